import fc from 'fast-check';
import type { DuckDBConnection } from '@duckdb/node-api';
import { ARCHIVE_COLUMNS } from '@lambda/shared/archive-layout';
import type { EventType } from '@lambda/shared/events/schema';
import type { WorkloadViewSettings } from '@lambda/shared/views/index';

/**
 * Test streams for the compiler, and a reference for each view written directly from the spec in
 * plain TypeScript: brute force over candidate windows, no shared helpers with the compiler, so
 * an agreement between the two means something.
 */

export interface TestEvent {
  event_id: string;
  type: EventType;
  event_time: number;
  user_id: string;
  product_id: string | null;
  ad_id: string | null;
  amount_cents: number | null;
  log_partition: number;
  log_offset: number;
}

export const MINUTE = 60_000;
export const GAP = 5 * MINUTE;
// An hour-aligned base, so minute boundaries in the stream are epoch-aligned boundaries.
export const T0 = Date.UTC(2024, 0, 1, 12);
const SPAN_MINUTES = 40;

const users = ['u1', 'u2', 'u3', 'u4'];
const products = ['p1', 'p2', 'p3'];
const ads = ['a1', 'a2'];

// Times cluster on minute boundaries (exactly, one ms before, one after) and spread in between.
const offset = fc.oneof(
  fc.integer({ min: 0, max: SPAN_MINUTES * MINUTE }),
  fc.tuple(fc.integer({ min: 1, max: SPAN_MINUTES }), fc.constantFrom(-1, 0, 0, 1)).map(([m, d]) => m * MINUTE + d),
);

const amount = fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 2 ** 40, max: 2 ** 45 }));

type Spec = Omit<TestEvent, 'event_id' | 'log_partition' | 'log_offset'>;

const single: fc.Arbitrary<Spec> = fc
  .record({
    type: fc.constantFrom<EventType>('page_view', 'page_view', 'error', 'purchase', 'click', 'impression', 'login_failed', 'profile_update'),
    t: offset,
    user: fc.constantFrom(...users),
    product: fc.option(fc.constantFrom(...products), { freq: 4 }),
    ad: fc.constantFrom(...ads),
    amount,
  })
  .map(({ type, t, user, product, ad, amount }) => ({
    type,
    event_time: T0 + t,
    user_id: user,
    product_id: type === 'purchase' ? (product ?? 'p1') : ['page_view', 'error', 'click', 'impression'].includes(type) ? product : null,
    ad_id: type === 'impression' ? ad : type === 'click' && product !== 'p3' ? ad : null,
    amount_cents: type === 'purchase' ? amount : null,
  }));

// A user's activity with gaps right at the session gap: G stays one session, G + 1 splits.
const sessionChain: fc.Arbitrary<Spec[]> = fc
  .record({
    user: fc.constantFrom(...users),
    start: offset,
    gaps: fc.array(fc.oneof(fc.constantFrom(0, 1, GAP - 1, GAP, GAP + 1, 2 * GAP), fc.integer({ min: 0, max: 3 * GAP })), {
      maxLength: 6,
    }),
    type: fc.constantFrom<EventType>('page_view', 'click'),
  })
  .map(({ user, start, gaps, type }) => {
    let t = T0 + start;
    return [t, ...gaps.map((g) => (t += g))].map((time) => ({
      type,
      event_time: time,
      user_id: user,
      product_id: null,
      ad_id: type === 'click' ? 'a1' : null,
      amount_cents: null,
    }));
  });

// Two sessions 2G apart and, delivered last, the event at +G that merges them.
const lateMerge: fc.Arbitrary<Spec[]> = fc.record({ user: fc.constantFrom(...users), start: offset }).map(({ user, start }) =>
  [0, 2 * GAP, GAP].map((d) => ({
    type: 'page_view' as const,
    event_time: T0 + start + d,
    user_id: user,
    product_id: 'p1',
    ad_id: null,
    amount_cents: null,
  })),
);

/**
 * A log: events in shuffled (out-of-order) log order, some delivered twice (an identical copy
 * later in the log), late merges at the end; offsets per partition, partitions by user.
 */
export const streamArb: fc.Arbitrary<TestEvent[]> = fc
  .record({
    singles: fc.array(single, { maxLength: 60 }),
    chains: fc.array(sessionChain, { maxLength: 4 }),
    merges: fc.array(lateMerge, { maxLength: 2 }),
    order: fc.array(fc.nat(), { maxLength: 120 }),
    dupes: fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 10 }),
  })
  .map(({ singles, chains, merges, order, dupes }) => {
    const specs = [...singles, ...chains.flat()];
    const keyed = specs.map((s, i) => ({ s, k: order[i] ?? i }));
    keyed.sort((a, b) => a.k - b.k);
    const log: Spec[] = [...keyed.map((x) => x.s), ...merges.flatMap((m) => [m[0]!, m[1]!]), ...merges.map((m) => m[2]!)];
    const withIds = log.map((s, i) => ({ ...s, event_id: `e${i}` }));
    for (const [pick, at] of dupes) {
      if (withIds.length === 0) break;
      const i = pick % withIds.length;
      const copyAt = i + 1 + (at % (withIds.length - i));
      withIds.splice(copyAt, 0, { ...withIds[i]! });
    }
    const next = [0, 0, 0];
    return withIds.map((e) => {
      const log_partition = Number(e.user_id.slice(1)) % 3;
      return { ...e, log_partition, log_offset: next[log_partition]!++ };
    });
  });

export async function loadEvents(conn: DuckDBConnection, table: string, events: TestEvent[]): Promise<void> {
  await conn.run(`CREATE OR REPLACE TABLE ${table} (${ARCHIVE_COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')})`);
  if (events.length === 0) return;
  const str = (v: string | null) => (v === null ? 'NULL' : `'${v}'`);
  const rows = events.map(
    (e) =>
      `(${str(e.event_id)}, ${str(e.type)}, make_timestamptz(${e.event_time * 1000}::BIGINT), ${str(e.user_id)}, ${str(e.product_id)}, ` +
      `${str(e.ad_id)}, ${e.amount_cents ?? 'NULL'}, NULL, NULL, NULL, ${e.log_partition}, ${e.log_offset})`,
  );
  await conn.run(`INSERT INTO ${table} VALUES ${rows.join(', ')}`);
}

export type Row = Record<string, bigint | number | string | boolean | null>;

export async function query(conn: DuckDBConnection, sql: string): Promise<Row[]> {
  return (await conn.runAndReadAll(sql)).getRowObjectsJS() as Row[];
}

/** Rows in a canonical order, for comparing results regardless of row order. */
export function canonical(rows: Row[]): Row[] {
  const text = (r: Row) => JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
  return [...rows].sort((a, b) => (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0));
}

// ---- the reference, straight from the spec ----

/** First occurrence of each event_id in log order (partition, offset). */
export function dedupe(events: TestEvent[]): TestEvent[] {
  const sorted = [...events].sort((a, b) => a.log_partition - b.log_partition || a.log_offset - b.log_offset);
  const seen = new Set<string>();
  return sorted.filter((e) => !seen.has(e.event_id) && seen.add(e.event_id));
}

interface Group<K> {
  start: number;
  end: number;
  key: K;
  events: TestEvent[];
}

/**
 * Every window [k*slide, k*slide + size) and key with at least one event, found by trying every
 * k that could matter and testing each event for membership.
 */
export function fixedWindows<K>(events: TestEvent[], size: number, slide: number, keyOf: (e: TestEvent) => K): Group<K>[] {
  if (events.length === 0) return [];
  const times = events.map((e) => e.event_time);
  const lowK = Math.floor((Math.min(...times) - size) / slide) - 1;
  const highK = Math.floor(Math.max(...times) / slide) + 1;
  const keys = [...new Set(events.map(keyOf))];
  const out: Group<K>[] = [];
  for (let k = lowK; k <= highK; k++) {
    const start = k * slide;
    for (const key of keys) {
      const inside = events.filter((e) => keyOf(e) === key && start <= e.event_time && e.event_time < start + size);
      if (inside.length > 0) out.push({ start, end: start + size, key, events: inside });
    }
  }
  return out;
}

/** Sessions per key: sorted by time, a gap > G starts a new one; spans [first, last + G). */
export function sessionsOf<K>(events: TestEvent[], gap: number, keyOf: (e: TestEvent) => K): Group<K>[] {
  const byKey = new Map<K, TestEvent[]>();
  for (const e of events) byKey.set(keyOf(e), [...(byKey.get(keyOf(e)) ?? []), e]);
  const out: Group<K>[] = [];
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.event_time - b.event_time);
    let current: TestEvent[] = [];
    for (const e of list) {
      if (current.length > 0 && e.event_time - current[current.length - 1]!.event_time > gap) {
        out.push({ start: current[0]!.event_time, end: current[current.length - 1]!.event_time + gap, key, events: current });
        current = [];
      }
      current.push(e);
    }
    if (current.length > 0) out.push({ start: current[0]!.event_time, end: current[current.length - 1]!.event_time + gap, key, events: current });
  }
  return out;
}

export function within(range: { from?: number; to?: number }) {
  return (r: Row) =>
    (range.from === undefined || Number(r.window_start) >= range.from) && (range.to === undefined || Number(r.window_end) <= range.to);
}

const count = (xs: unknown[]) => BigInt(xs.length);
const sumOf = (xs: (number | null)[]) => xs.reduce<bigint>((s, x) => s + BigInt(x ?? 0), 0n);

export function refRevenuePerMinute(log: TestEvent[]): Row[] {
  const purchases = dedupe(log).filter((e) => e.type === 'purchase');
  return fixedWindows(purchases, MINUTE, MINUTE, () => null).map((g) => ({
    window_start: BigInt(g.start),
    window_end: BigInt(g.end),
    revenue_cents: sumOf(g.events.map((e) => e.amount_cents)),
    purchases: count(g.events),
  }));
}

const activity = (log: TestEvent[]) => dedupe(log).filter((e) => e.type === 'page_view' || e.type === 'click');

export function refSessions(log: TestEvent[]): Row[] {
  return sessionsOf(activity(log), GAP, (e) => e.user_id).map((s) => ({
    window_start: BigInt(s.start),
    window_end: BigInt(s.end),
    user_id: s.key,
    duration_ms: BigInt(s.events[s.events.length - 1]!.event_time - s.events[0]!.event_time),
    events: count(s.events),
  }));
}

/** A user counts in minute [m, m + 60 s) if one of their sessions [first, last + G) overlaps it. */
export function refActiveUsers(log: TestEvent[]): Row[] {
  const sessions = sessionsOf(activity(log), GAP, (e) => e.user_id);
  if (sessions.length === 0) return [];
  const out: Row[] = [];
  const first = Math.floor(Math.min(...sessions.map((s) => s.start)) / MINUTE) - 1;
  const last = Math.ceil(Math.max(...sessions.map((s) => s.end)) / MINUTE) + 1;
  for (let k = first; k <= last; k++) {
    const m = k * MINUTE;
    const active = new Set(sessions.filter((s) => s.start < m + MINUTE && s.end > m).map((s) => s.key));
    if (active.size > 0) out.push({ window_start: BigInt(m), window_end: BigInt(m + MINUTE), active_users: BigInt(active.size) });
  }
  return out;
}

export function refErrorRate(log: TestEvent[], minViews: number, threshold: number): Row[] {
  const input = dedupe(log).filter((e) => (e.type === 'page_view' || e.type === 'error') && e.product_id !== null);
  return fixedWindows(input, 5 * MINUTE, MINUTE, (e) => e.product_id).map((g) => {
    const views = g.events.filter((e) => e.type === 'page_view').length;
    const errors = g.events.filter((e) => e.type === 'error').length;
    const rate = views === 0 ? null : errors / views;
    return {
      window_start: BigInt(g.start),
      window_end: BigInt(g.end),
      product_id: g.key,
      views: BigInt(views),
      errors: BigInt(errors),
      error_rate: rate,
      alert: rate !== null && rate > threshold && views >= minViews,
    };
  });
}

export function refFailedLogins(log: TestEvent[], threshold: number): Row[] {
  const input = dedupe(log).filter((e) => e.type === 'login_failed');
  return fixedWindows(input, 10 * MINUTE, MINUTE, (e) => e.user_id).map((g) => ({
    window_start: BigInt(g.start),
    window_end: BigInt(g.end),
    user_id: g.key,
    failed_logins: count(g.events),
    alert: g.events.length > threshold,
  }));
}

/** The reference of each workload view, by name, under the given alert settings. */
export const WORKLOAD_REFERENCES: Record<string, (log: TestEvent[], s: WorkloadViewSettings) => Row[]> = {
  revenue_per_minute: (log) => refRevenuePerMinute(log),
  active_users: (log) => refActiveUsers(log),
  sessions: (log) => refSessions(log),
  error_rate_by_product: (log, s) => refErrorRate(log, s.errorRateMinViews, s.errorRateThreshold),
  failed_logins_by_user: (log, s) => refFailedLogins(log, s.failedLoginsThreshold),
};
