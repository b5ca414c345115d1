import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  TOPICS,
  Workload,
  createLogger,
  itemLine,
  loadConfig,
  type EventLog,
  type LogRecord,
  type WorkloadOptions,
} from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import { buildApp } from '@lambda/serving-layer';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const START = '2024-05-01T12:00:00Z';

/** The flags below, as the library's options: what the CLI must produce, computed in-process. */
const workloadOptions: WorkloadOptions = {
  seed: 3,
  count: 3000,
  rate: 100,
  startTime: Date.parse(START),
  users: 40,
  products: 10,
  lateShare: 0.05,
  lateDelayMs: 20_000,
  duplicateShare: 0.03,
  malformedShare: 0.06,
  loginBurstsPerHour: 30,
};
const flags = [
  ...['--seed', '3', '--events', '3000', '--rate', '100', '--users', '40', '--products', '10'],
  ...['--late-share', '0.05', '--late-delay-ms', '20000', '--duplicate-share', '0.03'],
  ...['--malformed-share', '0.06', '--login-bursts-per-hour', '30', '--start', START],
];

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lambda-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function lambda(args: string[], dataDir: string, input?: string) {
  const child = run(process.execPath, [path.join(root, 'bin/lambda.js'), ...args], {
    cwd: root,
    env: { ...process.env, DATA_DIR: dataDir, KAFKA_BROKERS: '', LOG_LEVEL: 'warn' },
    maxBuffer: 64 << 20,
  });
  if (input !== undefined) child.child.stdin!.end(input);
  return child;
}

async function readAll(log: EventLog, topic: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (const [partition, end] of await log.endOffsets(topic)) {
    for (let offset = 0; offset < end; ) {
      const batch = await log.read(topic, partition, offset, 1000);
      out.push(...batch);
      offset += batch.length;
    }
  }
  return out;
}

/** The log of a data dir: accepted event ids (sorted) and the DLQ's fields (sorted). */
async function logContents(dataDir: string) {
  const log = await openEventLog(loadConfig({ DATA_DIR: dataDir }));
  try {
    const events = (await readAll(log, TOPICS.events)).map((r) => JSON.parse(r.value) as { event_id: string });
    const dlq = (await readAll(log, TOPICS.dlq)).map((r) => JSON.parse(r.value) as { field: string; source: string });
    return { ids: events.map((e) => e.event_id).sort(), dlq };
  } finally {
    await log.close();
  }
}

function expected() {
  const items = [...new Workload(workloadOptions)];
  return {
    items,
    lines: items.map(itemLine),
    ids: items.filter((i) => i.rejectField === null).map((i) => i.event!.event_id as string).sort(),
    dlqFields: items.flatMap((i) => (i.rejectField === null ? [] : [i.rejectField])).sort(),
  };
}

test('generate --to file writes the seeded stream; ingest puts it in the log and reports rejections by line', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'events.ndjson');
  const gen = await lambda(['generate', ...flags, '--to', 'file', '--out', file], dir);
  assert.match(gen.stderr, /generate: done: 3000 items/);
  const want = expected();
  assert.deepEqual((await readFile(file, 'utf8')).split('\n').slice(0, -1), want.lines);

  const ingest = await lambda(['ingest', file, '--batch', '250'], dir);
  const rejectedAt = want.items.flatMap((item, k) => (item.rejectField === null ? [] : [[k + 1, item.rejectField] as const]));
  assert.match(ingest.stdout, new RegExp(`${want.ids.length} accepted, ${rejectedAt.length} rejected`));
  const [line, field] = rejectedAt[0]!;
  assert.ok(ingest.stdout.includes(`line ${line}: ${field}:`), ingest.stdout);

  const got = await logContents(dir);
  assert.deepEqual(got.ids, want.ids);
  assert.deepEqual(got.dlq.map((d) => d.field).sort(), want.dlqFields);
  assert.ok(got.dlq.every((d) => d.source === 'file'));
});

test('generate --to log sends valid events to the log and malformed ones to the DLQ', async (t) => {
  const dir = await tempDir(t);
  const gen = await lambda(['generate', ...flags, '--to', 'log', '--batch', '400'], dir);
  const want = expected();
  assert.match(gen.stderr, new RegExp(`${want.ids.length} accepted, ${want.dlqFields.length} rejected`));
  const got = await logContents(dir);
  assert.deepEqual(got.ids, want.ids);
  assert.deepEqual(got.dlq.map((d) => d.field).sort(), want.dlqFields);
  assert.ok(got.dlq.every((d) => d.source === 'generator'));
});

test('ingest - reads stdin', async (t) => {
  const dir = await tempDir(t);
  const want = expected();
  const res = await lambda(['ingest', '-'], dir, want.lines.join('\n') + '\n');
  assert.match(res.stdout, new RegExp(`from stdin: ${want.ids.length} accepted`));
  assert.deepEqual((await logContents(dir)).ids, want.ids);
});

test('generate --to http posts to the ingest endpoint', async (t) => {
  const dir = await tempDir(t);
  const config = loadConfig({ DATA_DIR: dir });
  const log = await openEventLog(config, { forProducing: true });
  const app = buildApp({ config, log, logger: createLogger('test', 'silent') });
  t.after(async () => {
    await app.close();
    await log.close();
  });
  const url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/v1/events`;
  const serverDir = await tempDir(t);
  const gen = await lambda(['generate', ...flags, '--to', 'http', '--url', url, '--batch', '300'], serverDir);
  const want = expected();
  assert.match(gen.stderr, new RegExp(`${want.ids.length} accepted, ${want.dlqFields.length} rejected`));
  const ids = (await readAll(log, TOPICS.events)).map((r) => JSON.parse(r.value).event_id as string).sort();
  assert.deepEqual(ids, want.ids);
});

test('bad usage fails with a message', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(lambda(['generate', '--late-share', '2'], dir), /between 0 and 1/);
  await assert.rejects(lambda(['generate', '--to', 'nowhere'], dir), /Allowed choices are log, http, file/);
  await assert.rejects(lambda(['ingest', path.join(dir, 'missing.ndjson')], dir), /ENOENT/);
});
