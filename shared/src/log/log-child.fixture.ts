/**
 * A second process for the embedded log's tests: `produce <dir>` appends numbered records in a loop
 * and prints the count acknowledged so far after each produce; `follow <dir> <n>` consumes until
 * it has seen n records and prints their values; `lock <dir>` tries to take the writer lock.
 */
import { EmbeddedLog } from './embedded-log.ts';

const [mode, dir, arg] = process.argv.slice(2);
if (!dir) throw new Error('usage: log-child.fixture.ts produce|follow|lock <dir> [n]');

if (mode === 'produce') {
  const log = await EmbeddedLog.open(dir, { forProducing: true });
  for (let acked = 0; ; ) {
    const batch = Array.from({ length: 100 }, (_, i) => ({ key: `k${(acked + i) % 17}`, value: String(acked + i) }));
    await log.produce('events', batch);
    acked += batch.length;
    process.stdout.write(`${acked}\n`);
  }
} else if (mode === 'follow') {
  const want = Number(arg);
  const log = await EmbeddedLog.open(dir, { pollIntervalMs: 10 });
  const seen: string[] = [];
  const handle = await log.consume({
    group: 'follower',
    topic: 'events',
    onBatch: async (b) => {
      for (const r of b.records) seen.push(r.value);
      if (seen.length >= want) void handle.stop();
    },
  });
  process.stdout.write('ready\n');
  await handle.done;
  process.stdout.write(JSON.stringify(seen) + '\n');
  await log.close();
} else if (mode === 'lock') {
  try {
    await EmbeddedLog.open(dir, { forProducing: true, lockWaitMs: 0 });
    process.stdout.write('acquired\n');
  } catch (e) {
    process.stdout.write(`${(e as Error).name}:${(e as Error).constructor.name}\n`);
  }
  process.exit(0);
}
