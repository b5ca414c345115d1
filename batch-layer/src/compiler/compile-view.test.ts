import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { DEFAULT_WORKLOAD_SETTINGS, parseView, viewColumns, workloadViews, findView, sessionSpecOf, type ViewDefinition, type WorkloadViewSettings } from '@lambda/shared/views/index';
import { compileView, runEventsSql, sessionEventsSql } from './compile-view.ts';
import {
  GAP,
  MINUTE,
  T0,
  canonical,
  dedupe,
  fixedWindows,
  loadEvents,
  query,
  streamArb,
  within,
  type Row,
  type TestEvent,
  WORKLOAD_REFERENCES,
} from './test-support.ts';

let instance: DuckDBInstance;
let conn: DuckDBConnection;
before(async () => {
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
});
after(() => {
  conn.closeSync();
  instance.closeSync();
});

const settingsArb: fc.Arbitrary<WorkloadViewSettings> = fc.record({
  errorRateMinViews: fc.constantFrom(1, 2, 20),
  errorRateThreshold: fc.constantFrom(0.05, 0.5),
  failedLoginsThreshold: fc.constantFrom(1, 2, 5),
});

// Ranges with aligned and unaligned ends, one-sided or not, some empty, and ends placed on the
// stream's own event times (plus or minus the session gap), where an off-by-one would show.
const endArb = (log: TestEvent[]) =>
  fc.oneof(
    fc.tuple(fc.integer({ min: -6, max: 45 }), fc.constantFrom(0, 0, 1, -1, 30_000)).map(([m, d]) => T0 + m * MINUTE + d),
    fc
      .tuple(fc.constantFrom(T0, ...log.map((e) => e.event_time)), fc.constantFrom(0, 1, -1, GAP, -GAP, GAP + 1, -GAP - 1))
      .map(([t, d]) => t + d),
  );
const streamWithRange = streamArb.chain((log) =>
  fc.tuple(
    fc.constant(log),
    fc.record({ from: fc.option(endArb(log), { nil: undefined }), to: fc.option(endArb(log), { nil: undefined }) }),
  ),
);

const REFERENCES = WORKLOAD_REFERENCES;

/**
 * The view's rows over the log, compiled alone; checked equal to the rows of the same view over
 * the run's events deduplicated once for every view here (other types, wider input ranges), and,
 * for a session view, over sessions numbered once for every view sharing them.
 */
async function run(view: ViewDefinition, log: TestEvent[], range: { from?: number; to?: number } = {}): Promise<Row[]> {
  await loadEvents(conn, 'archive_events', log);
  const alone = await query(conn, compileView(view, { source: 'archive_events', ...range }));
  await createRunEvents(range);
  const deduplicated = { source: 'run_events', deduplicated: true, ...range };
  assert.deepEqual(await query(conn, compileView(view, deduplicated)), alone, 'over run_events');
  const sharing = [...workloadViews(), clicksPerAd, productActivity].filter((v) => sessionSpecOf(v) !== null && sessionSpecOf(v) === sessionSpecOf(view));
  if (sharing.length > 1) {
    await conn.run(`CREATE OR REPLACE TEMP TABLE session_events AS ${sessionEventsSql(sharing, deduplicated)}`);
    assert.deepEqual(await query(conn, compileView(view, { ...deduplicated, sessionEvents: 'session_events' })), alone, 'over shared session events');
  }
  return alone;
}

async function createRunEvents(range: { from?: number; to?: number } = {}): Promise<void> {
  const all = [...workloadViews(), clicksPerAd, productActivity];
  await conn.run(`CREATE OR REPLACE TEMP TABLE run_events AS ${runEventsSql(all, 'archive_events', range)}`);
}

test('every workload view has a reference here', () => {
  assert.deepEqual(Object.keys(REFERENCES).sort(), workloadViews().map((v) => v.name).sort());
});

for (const name of Object.keys(REFERENCES)) {
  test(`${name}: SQL equals the reference on random out-of-order streams with duplicates`, async () => {
    await fc.assert(
      fc.asyncProperty(streamArb, settingsArb, async (log, settings) => {
        const view = findView(name, workloadViews(settings));
        assert.deepEqual(canonical(await run(view, log)), canonical(REFERENCES[name]!(log, settings)));
      }),
      { numRuns: 120 },
    );
  });

  test(`${name}: a from/to range gives exactly the reference's windows inside it`, async () => {
    await fc.assert(
      fc.asyncProperty(streamWithRange, settingsArb, async ([log, range], settings) => {
        const view = findView(name, workloadViews(settings));
        const expected = REFERENCES[name]!(log, settings).filter(within(range));
        assert.deepEqual(canonical(await run(view, log, range)), canonical(expected));
      }),
      { numRuns: 120 },
    );
  });
}

test('the SQL yields exactly the columns and types viewColumns declares', async () => {
  await loadEvents(conn, 'archive_events', []);
  await createRunEvents();
  for (const view of [...workloadViews(), clicksPerAd, productActivity]) {
    for (const options of [{ source: 'archive_events' }, { source: 'run_events', deduplicated: true }]) {
      const described = await query(conn, `DESCRIBE ${compileView(view, options)}`);
      assert.deepEqual(
        described.map((r) => `${r.column_name}:${r.column_type}`),
        viewColumns(view).map((c) => `${c.name}:${c.type}`),
        `${view.name} over ${options.source}`,
      );
    }
  }
});

test('rows come ordered by window_start, then key', async () => {
  await fc.assert(
    fc.asyncProperty(streamArb, async (log) => {
      const rows = await run(findView('error_rate_by_product'), log);
      const keys = rows.map((r) => [Number(r.window_start), String(r.product_id)] as const);
      const sorted = [...keys].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
      assert.deepEqual(keys, sorted);
    }),
    { numRuns: 30 },
  );
});

function pageView(id: string, t: number, offset: number): TestEvent {
  return { event_id: id, type: 'page_view', event_time: t, user_id: 'u1', product_id: 'p1', ad_id: null, amount_cents: null, log_partition: 1, log_offset: offset };
}

test('sessions: a gap of exactly G stays one session, G + 1 splits, a late event merges', async () => {
  const view = findView('sessions');
  const t = T0 + 7;
  const split = await run(view, [pageView('a', t, 0), pageView('b', t + GAP, 1), pageView('c', t + 2 * GAP + 1, 2)]);
  assert.deepEqual(
    split.map((r) => [r.window_start, r.window_end, r.events]),
    [
      [BigInt(t), BigInt(t + 2 * GAP), 2n],
      [BigInt(t + 2 * GAP + 1), BigInt(t + 3 * GAP + 1), 1n],
    ],
  );
  const merged = await run(view, [pageView('a', t, 0), pageView('c', t + 2 * GAP, 1), pageView('b', t + GAP, 2)]);
  assert.deepEqual(
    merged.map((r) => [r.window_start, r.window_end, r.duration_ms, r.events]),
    [[BigInt(t), BigInt(t + 3 * GAP), BigInt(2 * GAP), 3n]],
  );
});

test('a range starting G after an event leaves out the session that event opens', async () => {
  // The events at from - G and from are one session starting before the range: none is inside it.
  const from = T0 + 10 * MINUTE;
  const log = [pageView('a', from - GAP, 0), pageView('b', from, 1), pageView('c', from + 2 * GAP + 5, 2)];
  const range = { from, to: from + 10 * GAP };
  for (const name of ['sessions', 'active_users']) {
    const rows = await run(findView(name), log, range);
    assert.deepEqual(canonical(rows), canonical(REFERENCES[name]!(log, DEFAULT_WORKLOAD_SETTINGS).filter(within(range))));
  }
  assert.deepEqual(
    (await run(findView('sessions'), log, range)).map((r) => r.window_start),
    [BigInt(from + 2 * GAP + 5)],
  );
});

test('revenue sums stay exact integers beyond 2^53', async () => {
  const big = 2 ** 52 + 1;
  const purchase = (id: string, offset: number): TestEvent => ({
    ...pageView(id, T0, offset),
    type: 'purchase',
    amount_cents: big,
  });
  const rows = await run(findView('revenue_per_minute'), [purchase('a', 0), purchase('b', 1), purchase('c', 2)]);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.revenue_cents, 3n * BigInt(big));
});

test('a processing-time view is refused by the batch compiler', () => {
  const view = parseView({ ...findView('revenue_per_minute'), name: 'revenue_now', timeDomain: 'processing' });
  assert.throws(() => compileView(view, { source: 'x' }), /processing time/);
});

// Views added as data only: the compiler is not told about them.
const clicksPerAd = parseView({
  name: 'clicks_per_ad_per_minute',
  description: 'Clicks and distinct clicking users per ad per minute.',
  input: { types: ['click'], filter: [{ column: 'ad_id', op: 'not_null' }] },
  key: 'ad_id',
  window: { kind: 'tumbling', sizeMs: MINUTE },
  timeDomain: 'event',
  watermarkLagMs: 5_000,
  allowedLatenessMs: 0,
  latePolicy: 'update',
  aggregates: [
    { name: 'clicks', fn: 'count' },
    { name: 'users', fn: 'count_distinct', column: 'user_id' },
  ],
  derived: [{ name: 'clicks_per_user', numerator: 'clicks', denominator: 'users' }],
  output: { kind: 'series' },
});

function refClicksPerAd(log: TestEvent[]): Row[] {
  const clicks = dedupe(log).filter((e) => e.type === 'click' && e.ad_id !== null);
  return fixedWindows(clicks, MINUTE, MINUTE, (e) => e.ad_id).map((g) => {
    const users = new Set(g.events.map((e) => e.user_id)).size;
    return {
      window_start: BigInt(g.start),
      window_end: BigInt(g.end),
      ad_id: g.key,
      clicks: BigInt(g.events.length),
      users: BigInt(users),
      clicks_per_user: g.events.length / users,
    };
  });
}

// Exercises what the workload does not: count_distinct with a condition across sliding panes,
// min/max (of a timestamp too), a conditional sum, and in/ne filters.
const productActivity = parseView({
  name: 'product_activity',
  description: 'Buyers, revenue and first/last activity per product over 3 minutes, every minute.',
  input: {
    types: ['page_view', 'purchase', 'click'],
    filter: [
      { column: 'product_id', op: 'in', values: ['p1', 'p2'] },
      { column: 'user_id', op: 'ne', value: 'u4' },
    ],
  },
  key: 'product_id',
  window: { kind: 'sliding', sizeMs: 3 * MINUTE, slideMs: MINUTE },
  timeDomain: 'event',
  watermarkLagMs: 0,
  allowedLatenessMs: 0,
  latePolicy: 'drop',
  aggregates: [
    { name: 'buyers', fn: 'count_distinct', column: 'user_id', where: [{ column: 'type', op: 'eq', value: 'purchase' }] },
    { name: 'revenue_cents', fn: 'sum', column: 'amount_cents', where: [{ column: 'type', op: 'eq', value: 'purchase' }] },
    { name: 'first_seen', fn: 'min', column: 'event_time' },
    { name: 'last_seen', fn: 'max', column: 'event_time' },
    { name: 'max_amount', fn: 'max', column: 'amount_cents' },
  ],
  derived: [{ name: 'revenue_per_buyer', numerator: 'revenue_cents', denominator: 'buyers' }],
  alert: { when: [{ metric: 'buyers', op: 'gte', value: 2 }] },
  output: { kind: 'series' },
});

function refProductActivity(log: TestEvent[]): Row[] {
  const input = dedupe(log).filter(
    (e) => ['page_view', 'purchase', 'click'].includes(e.type) && (e.product_id === 'p1' || e.product_id === 'p2') && e.user_id !== 'u4',
  );
  return fixedWindows(input, 3 * MINUTE, MINUTE, (e) => e.product_id).map((g) => {
    const purchases = g.events.filter((e) => e.type === 'purchase');
    const buyers = new Set(purchases.map((e) => e.user_id)).size;
    const revenue = purchases.reduce((s, e) => s + BigInt(e.amount_cents!), 0n);
    const times = g.events.map((e) => e.event_time);
    const amounts = g.events.flatMap((e) => (e.amount_cents === null ? [] : [BigInt(e.amount_cents)]));
    return {
      window_start: BigInt(g.start),
      window_end: BigInt(g.end),
      product_id: g.key,
      buyers: BigInt(buyers),
      revenue_cents: revenue,
      first_seen: BigInt(Math.min(...times)),
      last_seen: BigInt(Math.max(...times)),
      max_amount: amounts.length === 0 ? null : amounts.reduce((a, b) => (a > b ? a : b)),
      revenue_per_buyer: buyers === 0 ? null : Number(revenue) / buyers,
      alert: buyers >= 2,
    };
  });
}

for (const [view, reference] of [
  [clicksPerAd, refClicksPerAd],
  [productActivity, refProductActivity],
] as const) {
  test(`a view added as data (${view.name}) compiles and equals its reference`, async () => {
    await fc.assert(
      fc.asyncProperty(streamWithRange, async ([log, range]) => {
        assert.deepEqual(canonical(await run(view, log)), canonical(reference(log)));
        assert.deepEqual(canonical(await run(view, log, range)), canonical(reference(log).filter(within(range))));
      }),
      { numRuns: 100 },
    );
  });
}
