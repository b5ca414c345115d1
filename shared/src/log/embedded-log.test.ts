import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { EmbeddedLog } from './embedded-log.ts';
import { LogLockedError } from './lock.ts';
import { listSegments, segmentName } from './segment.ts';
import type { LogRecord } from './types.ts';

const FIXTURE = path.join(import.meta.dirname, 'log-child.fixture.ts');

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'elog-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function readAll(log: EmbeddedLog, topic: string): Promise<LogRecord[]> {
  const ends = await log.endOffsets(topic);
  const parts = await Promise.all([...ends].map(([p, end]) => log.read(topic, p, 0, end)));
  return parts.flat();
}

function child(t: TestContext, ...args: string[]) {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return { proc, lines, exited };
}

test('embedded: records survive closing and reopening, across rolled segments', async (t) => {
  const dir = await tempDir(t);
  const sent = Array.from({ length: 500 }, (_, i) => ({ key: `k${i % 13}`, value: `value-${i}` }));
  const log = await EmbeddedLog.open(dir, { segmentBytes: 2048 });
  for (let i = 0; i < sent.length; i += 50) await log.produce('events', sent.slice(i, i + 50));
  const before = await readAll(log, 'events');
  await log.close();

  const again = await EmbeddedLog.open(dir, { segmentBytes: 2048 });
  t.after(() => again.close());
  assert.ok((await listSegments(path.join(dir, 'events', '0'))).length > 1, 'segments rolled');
  assert.deepEqual(await readAll(again, 'events'), before);
  assert.deepEqual(before.map((r) => r.value).sort(), sent.map((r) => r.value).sort());
  await again.produce('events', [{ key: 'k0', value: 'after' }]);
  const p = [...(await again.endOffsets('events'))].find(([, end]) => end > 0)![0];
  const tail = await again.read('events', p, 0, 10_000);
  assert.deepEqual(tail.map((r) => r.offset), tail.map((_, i) => i));
});

test('embedded: a torn record at the tail is truncated on open and the log goes on', async (t) => {
  const dir = await tempDir(t);
  const log = await EmbeddedLog.open(dir);
  await log.produce('events.dlq', [{ key: null, value: 'one' }, { key: null, value: 'two' }]);
  await log.close();
  const partDir = path.join(dir, 'events.dlq', '0');
  const last = (await listSegments(partDir)).at(-1)!;
  // Half a frame: a length prefix promising more bytes than follow.
  await appendFile(path.join(partDir, segmentName(last)), Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]));

  const reopened = await EmbeddedLog.open(dir);
  t.after(() => reopened.close());
  await reopened.produce('events.dlq', [{ key: null, value: 'three' }]);
  const got = await reopened.read('events.dlq', 0, 0, 100);
  assert.deepEqual(got.map((r) => [r.offset, r.value]), [[0, 'one'], [1, 'two'], [2, 'three']]);
  assert.deepEqual(await reopened.endOffsets('events.dlq'), new Map([[0, 3]]));
});

test('embedded: one writer process and one member per group at a time', async (t) => {
  const dir = await tempDir(t);
  const log = await EmbeddedLog.open(dir, { forProducing: true, lockWaitMs: 0 });
  t.after(() => log.close());
  const other = child(t, 'lock', dir);
  assert.equal((await other.lines.next()).value, 'Error:LogLockedError');

  const handle = await log.consume({ group: 'g', topic: 'events', onBatch: async () => undefined });
  const second = await EmbeddedLog.open(dir, { lockWaitMs: 0 });
  t.after(() => second.close());
  await assert.rejects(second.consume({ group: 'g', topic: 'events', onBatch: async () => undefined }), LogLockedError);
  await handle.stop();
  const next = await second.consume({ group: 'g', topic: 'events', onBatch: async () => undefined });
  await next.stop();
});

test('embedded: a reader in another process follows the writer', async (t) => {
  const dir = await tempDir(t);
  const log = await EmbeddedLog.open(dir);
  t.after(() => log.close());
  const want = Array.from({ length: 300 }, (_, i) => `r${i}`);
  const follower = child(t, 'follow', dir, String(want.length));
  assert.equal((await follower.lines.next()).value, 'ready');
  for (let i = 0; i < want.length; i += 30) {
    await log.produce('events', want.slice(i, i + 30).map((value) => ({ key: value, value })));
  }
  const seen = JSON.parse((await follower.lines.next()).value as string) as string[];
  assert.deepEqual(seen.sort(), [...want].sort());
  await follower.exited;
});

test('embedded: after kill -9 of a producing process, every acknowledged record is there once', async (t) => {
  const dir = await tempDir(t);
  const writer = child(t, 'produce', dir);
  let acked = 0;
  for await (const line of { [Symbol.asyncIterator]: () => writer.lines }) {
    acked = Number(line);
    if (acked >= 3000) break;
  }
  writer.proc.kill('SIGKILL');
  await writer.exited;

  // Waits out the dead writer's lock (it goes stale), as a restart would.
  const log = await EmbeddedLog.open(dir, { forProducing: true });
  t.after(() => log.close());
  const values = (await readAll(log, 'events')).map((r) => Number(r.value));
  assert.equal(new Set(values).size, values.length, 'no record twice');
  const present = new Set(values);
  for (let i = 0; i < acked; i++) assert.ok(present.has(i), `acknowledged record ${i} present`);
  assert.ok((await readdir(path.join(dir, 'events'))).includes('topic.json'));
});

test('embedded: a writer whose lock was lost (its lock directory removed) stops producing and still closes', async (t) => {
  const dir = await tempDir(t);
  const log = await EmbeddedLog.open(dir);
  await log.produce('events', [{ key: 'k', value: 'before' }]);
  await rm(path.join(dir, '@writer.lock'), { recursive: true, force: true });
  // The lock's holder refreshes it every 1.5 s, and finds it gone.
  const deadline = Date.now() + 10_000;
  let produced = true;
  while (produced && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    produced = await log.produce('events', [{ key: 'k', value: 'after' }]).then(
      () => true,
      () => false,
    );
  }
  assert.equal(produced, false, 'producing stops once the lock is lost');
  await log.close();
});
