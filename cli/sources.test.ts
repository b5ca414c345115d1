import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  DEFAULT_TOPICS,
  DEFAULT_WORKLOAD_SETTINGS,
  MemoryStateStore,
  RedisStateStore,
  VIEWS,
  WORKLOAD_DEFAULTS,
  Workload,
  createLogger,
  ingestEvents,
  itemRaw,
  loadConfig,
  validateEvent,
  type StateStore,
  type ViewRow,
} from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import { kafkaBrokersFor, kafkaPrefixFor, redisUrlFor } from '@lambda/shared/testing/services';
import { runBatch, startArchiver } from '@lambda/batch-layer';
import { WORKLOAD_REFERENCES, within, type TestEvent } from '@lambda/batch-layer/compiler/test-support';
import { startSpeedLayer } from '@lambda/speed-layer';
import { buildApp, jsonRow } from '@lambda/serving-layer';
import { adminActions, batchSource, speedSource } from './sources.ts';

/**
 * The platform end to end, as `lambda up` composes it, on both back ends: a workload with late
 * events through the log into the archive, a batch run, a speed-layer pass, then the HTTP answers
 * checked against a reference computed here in plain TypeScript from the generator's own events.
 */

const MINUTE = 60_000;
const IDLE_MS = 3_600_000;

interface Backend {
  name: string;
  /** Environment for loadConfig, and the speed state store; null when the services are absent. */
  open(t: TestContext): Promise<{ env: Record<string, string>; store: StateStore } | null>;
}

const backends: Backend[] = [
  { name: 'embedded log, memory store', open: async () => ({ env: {}, store: await MemoryStateStore.open({ dir: null }) }) },
  {
    name: 'Kafka, Redis',
    open: async (t) => {
      const [brokers, url] = [await kafkaBrokersFor(t), await redisUrlFor(t)];
      if (!brokers || !url) return null;
      const store = await RedisStateStore.open({ url, keyPrefix: `test:${randomUUID()}:` });
      t.after(() => store.clear());
      return { env: { KAFKA_BROKERS: brokers.join(','), KAFKA_TOPIC_PREFIX: kafkaPrefixFor(t, brokers, 'e2e') }, store };
    },
  },
];

/** The generator's accepted events as the reference reads them (duplicates included: it dedupes). */
function referenceEvents(items: Workload extends Iterable<infer I> ? I[] : never, now: number): TestEvent[] {
  return items.flatMap((item, i) => {
    if (item.rejectField !== null) return [];
    const v = validateEvent(item.event, { now, maxFutureSkewMs: 5 * MINUTE });
    if (!v.ok) throw new Error(`the generator's valid item ${item.seq} fails validation: ${JSON.stringify(v.rejection)}`);
    const e = v.event as Record<string, unknown>;
    const field = <T>(name: string) => (e[name] ?? null) as T | null;
    return [{ ...(v.event as unknown as TestEvent), product_id: field('product_id'), ad_id: field('ad_id'), amount_cents: field('amount_cents'), log_partition: 0, log_offset: i }];
  });
}

const asJson = (r: ViewRow) => JSON.stringify(jsonRow(r));

for (const backend of backends) {
  test(`end to end (${backend.name}): batch rows below the high-water mark, speed rows above, both equal to the reference; drift only where late events were dropped`, { timeout: 300_000 }, async (t) => {
    const opened = await backend.open(t);
    if (!opened) return;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'e2e-'));
    const config = loadConfig({ DATA_DIR: dir, ADMIN_TOKEN: 'tok', ...opened.env });
    const log = await openEventLog(config, { forProducing: true });
    const store = opened.store;
    t.after(async () => {
      await store.close();
      await log.close();
      await rm(dir, { recursive: true, force: true });
    });

    const now = Date.now();
    const start = Math.floor((now - 40 * MINUTE) / MINUTE) * MINUTE;
    // Phones offline for about 90 s: later than every view's watermark lag, so some events are late.
    const items = [...new Workload({ ...WORKLOAD_DEFAULTS, seed: 7, count: 4000, rate: 2, startTime: start, users: 40, products: 6, lateShare: 0.05, lateDelayMs: 90_000 })];
    assert.ok(items.some((i) => i.late && i.event?.type === 'purchase'), 'the stream has late purchases');
    await log.ensureTopics(DEFAULT_TOPICS);
    await ingestEvents(log, items.map(itemRaw), { source: 'test', maxFutureSkewMs: config.maxFutureSkewMs, now });
    await (await startArchiver({ log, dataDir: dir, once: true })).done;
    const empty = batchSource(dir);
    assert.deepEqual(await empty.current(), { runId: null, highWaterMark: null }, 'before the first run');
    assert.deepEqual((await empty.read(VIEWS[0]!, {})).rows, []);
    const { version } = await runBatch({ dataDir: dir, threads: 1 });
    await (await startSpeedLayer({ log, store, dataDir: dir, once: true, idleTimeoutMs: IDLE_MS })).done;

    const app = buildApp({
      config,
      log,
      logger: createLogger('test', 'silent'),
      batch: batchSource(dir),
      speed: speedSource(store, { idleTimeoutMs: IDLE_MS }),
      admin: adminActions(dir),
    });
    t.after(() => app.close());
    const hwm = version.highWaterMark!;
    const range = { from: start, to: start + 60 * MINUTE };
    const query = `from=${range.from}&to=${range.to}`;
    const events = referenceEvents(items, now);

    for (const view of VIEWS) {
      const res = await app.inject({ method: 'GET', url: `/v1/views/${view.name}?${query}` });
      assert.equal(res.statusCode, 200, res.body);
      const answer = res.json() as { highWaterMark: number; speedWatermark: number; rows: Array<Record<string, unknown>> };
      assert.equal(answer.highWaterMark, hwm);
      assert.ok(answer.speedWatermark > hwm, 'the speed layer is ahead of the batch layer');
      const expected = new Map(WORKLOAD_REFERENCES[view.name]!(events, DEFAULT_WORKLOAD_SETTINGS).filter(within(range)).map((r) => [`${r.window_start}/${r[view.key ?? ''] ?? ''}`, asJson(r)]));
      const served = { batch: 0, speed: 0 };
      for (const { source, ...row } of answer.rows) {
        assert.equal(source, Number(row.window_end) <= hwm ? 'batch' : 'speed', `${view.name}: a window is served by the layer that owns it`);
        served[source as 'batch' | 'speed']++;
        const reference = expected.get(`${row.window_start}/${row[view.key ?? ''] ?? ''}`);
        // Time series answer an empty window with zeros; the reference has no row for it.
        const want = reference ?? JSON.stringify({ ...row, ...Object.fromEntries(Object.entries(row).filter(([k, v]) => typeof v === 'number' && !k.startsWith('window_')).map(([k]) => [k, 0])) });
        if (source === 'batch' || view.latePolicy === 'update') {
          assert.equal(JSON.stringify(row), want, `${view.name}: the ${source} row equals the reference`);
        } else {
          // Under `drop` the speed layer lacks the late events: never more than the reference.
          const ref = JSON.parse(want) as Record<string, number>;
          assert.ok(Number(row.revenue_cents) <= ref.revenue_cents! && Number(row.purchases) <= ref.purchases!, `${view.name}: ${JSON.stringify(row)} vs ${want}`);
        }
      }
      assert.ok(served.batch > 0 && served.speed > 0, `${view.name}: both layers serve rows (${JSON.stringify(served)})`);
    }

    const drift = (await app.inject({ method: 'GET', url: `/v1/drift?${query}` })).json().drift as Array<Record<string, number | string>>;
    for (const report of drift) {
      assert.ok(Number(report.windowsCompared) > 0, `${report.view}: the layers overlap`);
      if (report.latePolicy === 'update') assert.equal(report.rowsDiffering, 0, `${report.view}: ${JSON.stringify(report)}`);
    }
    // revenue_per_minute drops late events in the speed layer: that is its whole drift.
    const revenue = drift.find((r) => r.view === 'revenue_per_minute')!;
    assert.ok(Number(revenue.rowsDiffering) > 0 && Number(revenue.lateDropped) >= Number(revenue.rowsDiffering), JSON.stringify(revenue));

    const auth = { authorization: 'Bearer tok' };
    const second = await app.inject({ method: 'POST', url: '/v1/admin/batch-run', headers: auth });
    assert.equal(second.statusCode, 200, second.body);
    assert.notEqual(second.json().runId, version.runId);
    const back = await app.inject({ method: 'POST', url: '/v1/admin/rollback', headers: auth });
    assert.deepEqual(back.json(), { from: second.json().runId, to: version.runId, highWaterMark: hwm });
    const noOlder = await app.inject({ method: 'POST', url: '/v1/admin/rollback', headers: auth });
    assert.equal(noOlder.statusCode, 409, noOlder.body);
    assert.match(noOlder.json().message, /^rollback: no kept version older than/);
  });
}
