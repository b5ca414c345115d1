import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import {
  TOPICS,
  createLogger,
  loadConfig,
  type EventLog,
  type LogRecord,
  type ProduceRecord,
} from '@lambda/shared';
import { Workload, itemLine, type WorkloadItem } from '@lambda/shared/generator/workload';
import { buildApp } from '../app.ts';
import type { IngestLimits } from './ingest.ts';

/** Records what was produced; a double of our own EventLog interface, one partition per topic. */
function recordingLog(): EventLog {
  const topics = new Map<string, LogRecord[]>();
  const unused = () => Promise.reject(new Error('not used by the ingest route'));
  return {
    kind: 'embedded',
    ensureTopics: async () => undefined,
    produce: async (topic: string, records: ProduceRecord[]) => {
      const log = topics.get(topic) ?? [];
      topics.set(topic, log);
      for (const r of records) {
        log.push({ topic, partition: 0, offset: log.length, key: r.key, value: r.value, timestamp: Date.now() });
      }
    },
    partitionCount: async () => 1,
    endOffsets: async (topic: string) => new Map([[0, topics.get(topic)?.length ?? 0]]),
    committedOffsets: unused,
    consume: unused,
    read: async (topic: string, _p: number, from: number, max: number) =>
      (topics.get(topic) ?? []).slice(from, from + max),
    close: async () => undefined,
  };
}

/** Every record of a topic, read through the EventLog interface. */
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

async function setup(t: TestContext, ingest: Partial<IngestLimits> = {}) {
  const log = recordingLog();
  const app = buildApp({ config: loadConfig({}), log, logger: createLogger('test', 'silent'), ingest });
  t.after(() => app.close());
  return { app, log };
}

const NOW = Date.now();
const event = (i: number, extra: Record<string, unknown> = {}) => ({
  event_id: `e-${i}`,
  type: 'page_view',
  event_time: NOW - 1000 * i,
  user_id: `u-${i % 3}`,
  product_id: 'p-1',
  ...extra,
});

function post(app: ReturnType<typeof buildApp>, payload: string, contentType?: string) {
  return app.inject({
    method: 'POST',
    url: '/v1/events',
    payload,
    headers: contentType ? { 'content-type': contentType } : {},
  });
}

test('GET /health names the log', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ method: 'GET', url: '/health' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { status: 'ok', log: 'embedded' });
});

test('a JSON array and a single JSON object are accepted into the events topic', async (t) => {
  const { app, log } = await setup(t);
  const batch = [event(1), event(2), event(3)];
  const res = await post(app, JSON.stringify(batch), 'application/json');
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { accepted: 3, rejected: [] });
  const one = await post(app, JSON.stringify(event(4)), 'application/json; charset=utf-8');
  assert.deepEqual(one.json(), { accepted: 1, rejected: [] });
  const stored = (await readAll(log, TOPICS.events)).map((r) => JSON.parse(r.value).event_id).sort();
  assert.deepEqual(stored, ['e-1', 'e-2', 'e-3', 'e-4']);
  assert.deepEqual(await readAll(log, TOPICS.dlq), []);
});

test('generated NDJSON with malformed lines: each rejection names its index, line, field and reason', async (t) => {
  const { app, log } = await setup(t);
  const items: WorkloadItem[] = [
    ...new Workload({
      seed: 5,
      count: 400,
      rate: 100,
      startTime: NOW - 10 * 60_000,
      users: 20,
      products: 5,
      lateShare: 0.1,
      lateDelayMs: 5000,
      duplicateShare: 0.05,
      malformedShare: 0.25,
      loginBurstsPerHour: 0,
    }),
  ];
  // A blank line between events carries no event but still counts as a line.
  const body = items.map(itemLine).join('\n\n') + '\n';
  const res = await post(app, body, 'application/x-ndjson');
  assert.equal(res.statusCode, 200);
  const result = res.json() as { accepted: number; rejected: Array<{ index: number; line: number; field: string; reason: string }> };
  const expected = items.flatMap((item, index) =>
    item.rejectField === null ? [] : [{ index, line: 2 * index + 1, field: item.rejectField }],
  );
  assert.ok(expected.length > 0);
  assert.equal(result.accepted, items.length - expected.length);
  assert.deepEqual(
    result.rejected.map(({ index, line, field }) => ({ index, line, field })),
    expected,
  );
  for (const r of result.rejected) assert.ok(r.reason.length > 0);

  const stored = (await readAll(log, TOPICS.events)).map((r) => r.value);
  const accepted = items.filter((i) => i.rejectField === null);
  assert.deepEqual(stored.map((v) => JSON.parse(v).event_id), accepted.map((i) => i.event!.event_id));
  const dlq = (await readAll(log, TOPICS.dlq)).map((r) => JSON.parse(r.value));
  assert.deepEqual(dlq.map((d) => d.field), expected.map((e) => e.field));
  for (const [k, d] of dlq.entries()) {
    const item = items[expected[k]!.index]!;
    assert.equal(d.source, 'http');
    assert.deepEqual(d.raw, item.text ?? item.event, 'the DLQ keeps the input, verbatim when it did not parse');
    assert.equal(d.reason, result.rejected[k]!.reason);
  }
});

test('a mixed JSON array answers 200; an array of only invalid events answers 422 and fills the DLQ', async (t) => {
  const { app, log } = await setup(t);
  const mixed = [event(1), event(2, { amount_cents: 'x' }), event(3, { type: 'purchase', product_id: 'p', amount_cents: 9.5 })];
  const res = await post(app, JSON.stringify(mixed), 'application/json');
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.accepted, 1);
  assert.deepEqual(
    body.rejected.map((r: { index: number; field: string }) => [r.index, r.field]),
    [
      [1, 'amount_cents'],
      [2, 'amount_cents'],
    ],
  );
  const bad = await post(app, JSON.stringify([{ type: 'nope' }, 42]), 'application/json');
  assert.equal(bad.statusCode, 422);
  assert.deepEqual(
    bad.json().rejected.map((r: { index: number; field: string }) => [r.index, r.field]),
    [
      [0, 'type'],
      [1, '(event)'],
    ],
  );
  assert.equal((await readAll(log, TOPICS.events)).length, 1);
  assert.equal((await readAll(log, TOPICS.dlq)).length, 4);
});

test('bad bodies get a 4xx with a clear message and write nothing', async (t) => {
  const { app, log } = await setup(t, { bodyLimitBytes: 2048, maxEventsPerRequest: 5 });
  const cases: Array<[string, string | undefined, number, RegExp]> = [
    ['[{"event_id": "a",', 'application/json', 400, /malformed JSON body/],
    ['', 'application/json', 400, /empty body/],
    ['  \n', 'application/x-ndjson', 400, /empty body/],
    ['', undefined, 400, /empty body/],
    ['[]', 'application/json', 400, /empty array/],
    ['42', 'application/json', 400, /got a number/],
    ['hello', 'text/plain', 415, /unsupported content type/],
    [JSON.stringify(Array.from({ length: 40 }, (_, i) => event(i))), 'application/json', 413, /limit is 2048 bytes/],
    [JSON.stringify(Array.from({ length: 6 }, (_, i) => event(i))), 'application/json', 413, /at most 5/],
    [Array.from({ length: 6 }, (_, i) => JSON.stringify(event(i))).join('\n'), 'application/x-ndjson', 413, /at most 5/],
  ];
  for (const [payload, type, status, message] of cases) {
    const res = await post(app, payload, type);
    assert.equal(res.statusCode, status, `${type} ${payload.slice(0, 40)}: ${res.body}`);
    assert.match(res.json().message, message);
  }
  assert.equal((await readAll(log, TOPICS.events)).length, 0);
  assert.equal((await readAll(log, TOPICS.dlq)).length, 0);
});

test('a log that fails answers 503, not a 4xx or a crash', async (t) => {
  const { app, log } = await setup(t);
  log.produce = () => Promise.reject(new Error('broker down'));
  const res = await post(app, JSON.stringify([event(1)]), 'application/json');
  assert.equal(res.statusCode, 503);
  assert.match(res.json().message, /retry/);
});
