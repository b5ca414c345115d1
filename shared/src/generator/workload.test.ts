import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateEvent } from '../events/validate.ts';
import {
  MALFORMATIONS,
  Workload,
  itemLine,
  itemRaw,
  workloadSpanMs,
  type WorkloadItem,
  type WorkloadOptions,
} from './workload.ts';

const START = Date.UTC(2024, 4, 1, 12);

function options(over: Partial<WorkloadOptions> = {}): WorkloadOptions {
  return {
    seed: 42,
    count: 20_000,
    rate: 500,
    startTime: START,
    users: 300,
    products: 50,
    lateShare: 0.05,
    lateDelayMs: 30_000,
    duplicateShare: 0.03,
    malformedShare: 0.04,
    loginBurstsPerHour: 10,
    ...over,
  };
}

function collect(o: WorkloadOptions): { items: WorkloadItem[]; w: Workload } {
  const w = new Workload(o);
  return { items: [...w], w };
}

/** A binomial count lies within six standard deviations of its mean (fails about once in 10^9). */
function assertBinomial(observed: number, n: number, p: number, what: string): void {
  const mean = n * p;
  const slack = 6 * Math.sqrt(n * p * (1 - p)) + 1;
  assert.ok(Math.abs(observed - mean) <= slack, `${what}: ${observed} is not within ${mean} ± ${slack}`);
}

const fingerprint = (items: WorkloadItem[]) => items.map((i) => `${i.kind}|${i.late}|${i.emittedAt}|${itemLine(i)}`);

test('the same seed gives the same stream; another seed gives another', () => {
  const a = fingerprint(collect(options()).items);
  const b = fingerprint(collect(options()).items);
  const c = fingerprint(collect(options({ seed: 43 })).items);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const w = new Workload(options());
  assert.deepEqual(fingerprint([...w]), fingerprint([...w]), 'iterating again restarts from the seed');
});

test('count is exact and seq numbers the emitted stream', () => {
  for (const count of [0, 1, 7, 5000]) {
    const { items, w } = collect(options({ count }));
    assert.equal(items.length, count);
    assert.equal(w.truth.items, count);
    assert.deepEqual(
      items.map((i) => i.seq),
      items.map((_, k) => k),
    );
  }
});

test('duration bounds the event times, and the rate sets how many events it holds', () => {
  const o = options({ count: undefined, durationMs: 30_000, rate: 200 });
  const { items } = collect(o);
  const fresh = items.filter((i) => i.kind !== 'duplicate');
  assert.equal(fresh.length, (o.durationMs! / 1000) * o.rate);
  for (const i of items) {
    if (i.malformation === 'far_future' || i.event === null) continue;
    const t = i.event.event_time as number;
    assert.ok(t >= START && t < START + o.durationMs!, `event time ${t} outside the duration`);
  }
});

test('shares of malformed, duplicate and late items are honoured', () => {
  const o = options({ count: 60_000 });
  const { items, w } = collect(o);
  const fresh = items.filter((i) => i.kind !== 'duplicate');
  const valid = items.filter((i) => i.kind === 'valid');
  assertBinomial(w.truth.malformed, fresh.length, o.malformedShare, 'malformed');
  assertBinomial(w.truth.duplicates, valid.length, o.duplicateShare, 'duplicates');
  assertBinomial(valid.filter((i) => i.late).length, valid.length, o.lateShare, 'late');
  for (const kind of MALFORMATIONS) {
    assertBinomial(w.truth.malformedByKind[kind], w.truth.malformed, 1 / MALFORMATIONS.length, kind);
  }
  const none = collect(options({ lateShare: 0, duplicateShare: 0, malformedShare: 0 }));
  assert.equal(none.w.truth.valid, none.items.length);
});

test('the ground truth agrees with the edge: valid items pass validateEvent, malformed ones fail on the named field', () => {
  const o = options();
  const { items, w } = collect(o);
  const now = START + workloadSpanMs(o);
  let accepted = 0;
  const byKind = { valid: 0, duplicate: 0, malformed: 0 };
  for (const item of items) {
    byKind[item.kind]++;
    const raw = itemRaw(item);
    if ('unparsable' in raw) {
      assert.equal(item.malformation, 'unparsable');
      assert.equal(item.rejectField, '(event)');
      continue;
    }
    const v = validateEvent(raw.value, { now, maxFutureSkewMs: 5 * 60_000 });
    if (item.rejectField === null) {
      assert.ok(v.ok, `item ${item.seq} (${itemLine(item)}) should be accepted`);
      accepted++;
    } else {
      assert.ok(!v.ok, `item ${item.seq} (${item.malformation}) should be rejected`);
      assert.equal(v.rejection.field, item.rejectField, `item ${item.seq} (${item.malformation})`);
    }
  }
  assert.equal(w.truth.accepted, accepted);
  assert.equal(w.truth.valid, byKind.valid);
  assert.equal(w.truth.duplicates, byKind.duplicate);
  assert.equal(w.truth.malformed, byKind.malformed);
  assert.equal(w.truth.late, items.filter((i) => i.late).length);
});

test('a duplicate repeats a valid event with its event_id; valid event ids are unique', () => {
  const { items } = collect(options());
  const valid = new Map<unknown, string>();
  for (const i of items.filter((x) => x.kind === 'valid')) {
    assert.ok(!valid.has(i.event!.event_id), `event_id ${String(i.event!.event_id)} repeated`);
    valid.set(i.event!.event_id, itemLine(i));
  }
  const dups = items.filter((x) => x.kind === 'duplicate');
  assert.ok(dups.length > 0);
  for (const d of dups) assert.equal(itemLine(d), valid.get(d.event!.event_id));
});

test('late items keep their event time but are emitted after events with later times', () => {
  const o = options();
  const { items } = collect(o);
  for (let k = 1; k < items.length; k++) {
    assert.ok(items[k]!.emittedAt >= items[k - 1]!.emittedAt, 'the stream clock never goes back');
  }
  let maxTimeSoFar = -Infinity;
  let overtaken = 0;
  const late = items.filter((i) => i.late && i.kind === 'valid');
  assert.ok(late.length > 0);
  for (const i of items) {
    if (i.event === null || i.malformation === 'far_future') continue;
    const t = i.event.event_time as number;
    if (i.late && i.kind === 'valid') {
      assert.ok(i.emittedAt - t >= o.lateDelayMs / 2, 'a late item is held back at least half the delay');
      if (maxTimeSoFar > t) overtaken++;
    }
    maxTimeSoFar = Math.max(maxTimeSoFar, t);
  }
  assert.equal(overtaken, late.length, 'every late item arrives after a later event');
});

test('the error spike raises one product’s error rate inside its window only', () => {
  const { items, w } = collect(options({ count: 200_000, rate: 1000, malformedShare: 0 }));
  const spike = w.errorSpike!;
  const counts = { in: { views: 0, errors: 0 }, out: { views: 0, errors: 0 } };
  for (const i of items) {
    const e = i.event!;
    if (e.product_id !== spike.product_id) continue;
    const t = e.event_time as number;
    const c = t >= spike.from && t < spike.to ? counts.in : counts.out;
    if (e.type === 'page_view') c.views++;
    if (e.type === 'error') c.errors++;
  }
  assert.ok(counts.in.views > 200 && counts.out.views > 200, JSON.stringify(counts));
  assert.ok(counts.in.errors / counts.in.views > 0.2, `inside: ${JSON.stringify(counts.in)}`);
  assert.ok(counts.out.errors / counts.out.views < 0.05, `outside: ${JSON.stringify(counts.out)}`);
});

test('login bursts make some users exceed 5 failed logins in 10 minutes, and only them', () => {
  const { items, w } = collect(options({ count: 100_000, rate: 50, loginBurstsPerHour: 20, malformedShare: 0 }));
  const times = new Map<string, number[]>();
  for (const i of items) {
    if (i.kind !== 'valid' || i.event!.type !== 'login_failed') continue;
    const user = i.event!.user_id as string;
    times.set(user, [...(times.get(user) ?? []), i.event!.event_time as number]);
  }
  const exceeding = [...times]
    .filter(([, ts]) => {
      ts.sort((a, b) => a - b);
      return ts.some((t, k) => k + 5 < ts.length && ts[k + 5]! < t + 10 * 60_000);
    })
    .map(([user]) => user);
  assert.ok(exceeding.length > 0, 'some user exceeds 5 in 10 minutes');
  for (const user of exceeding) assert.ok(w.truth.loginBurstUsers.includes(user), `${user} was not given a burst`);
});

test('amounts are integer cents and options are checked', () => {
  const { items } = collect(options({ malformedShare: 0 }));
  const purchases = items.filter((i) => i.event!.type === 'purchase');
  assert.ok(purchases.length > 0);
  for (const p of purchases) assert.ok(Number.isSafeInteger(p.event!.amount_cents));
  assert.throws(() => new Workload(options({ lateShare: 1.5 })), /lateShare/);
  assert.throws(() => new Workload(options({ durationMs: 1000 })), /exactly one/);
  assert.throws(() => new Workload(options({ rate: 0 })), /rate/);
});
