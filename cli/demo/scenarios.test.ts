import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TOPICS, TOPICS, partitionForKey, type WorkloadItem } from '@lambda/shared';
import { quietOptions, scriptedStream, type StreamSettings } from './common.ts';
import { CODE_DRIFT_DEFAULTS, runCodeDrift } from './code-drift.ts';
import { LATE_DATA_DEFAULTS, runLateData } from './late-data.ts';
import { PROCESSING_TIME_DEFAULTS, runProcessingTime } from './processing-time.ts';
import { REPROCESS_DEFAULTS, runReprocess } from './reprocess.ts';

/**
 * Each scenario in fast mode, its reported drift checked against an independent account of its
 * cause, computed here from the generator's own record of the stream (what it emitted, in which
 * order, which items are late or duplicates), not from anything the platform answered.
 */

const MINUTE = 60_000;
const LAG = 30_000;
const PARTITIONS = DEFAULT_TOPICS.find((t) => t.name === TOPICS.events)!.partitions;
const minuteOf = (t: number) => Math.floor(t / MINUTE) * MINUTE;

/** The stream each scenario replays: the same seeded generator, run again here (the same settings give the same stream). */
function regenerate(settings: StreamSettings): WorkloadItem[] {
  return scriptedStream(settings).items;
}

/** Every scenario's stream lies before this fixed time, so the test regenerates exactly the same one. */
const NOW = Date.now();

interface Purchase {
  id: string;
  time: number;
  arrival: number;
  cents: number;
  product: string;
}

interface Replay {
  /** Per minute: what a path applying the revenue_per_minute rules keeps. */
  kept: Map<number, { cents: number; count: number }>;
  /** Late purchases dropped, with their window. */
  dropped: Purchase[];
  /** Every purchase, first copies only (the truth both layers must reach with complete data). */
  truth: Purchase[];
  /** The batch high-water mark: min over partitions of the max event time, minus the 30 s lag, floored to the minute. */
  hwm: number;
}

/**
 * Replays the log: items in emission order, each valid one in its user's partition (Kafka's
 * murmur2, as the edge produces them); per partition the max event time seen before the event
 * decides lateness: late for revenue_per_minute when `max - 30 s >= end of the event's minute`.
 * With `dedupe`, an event_id counts once (as the definition says); without, every copy counts.
 */
function replay(items: readonly WorkloadItem[], opts: { dedupe: boolean }): Replay {
  const max = new Map<number, number>();
  const seen = new Set<string>();
  const firstSeen = new Set<string>();
  const kept = new Map<number, { cents: number; count: number }>();
  const dropped: Purchase[] = [];
  const truth: Purchase[] = [];
  for (const item of items) {
    if (item.rejectField !== null || item.event === null) continue;
    const e = item.event as { event_id: string; type: string; event_time: number; user_id: string; amount_cents?: number; product_id?: string };
    const first = !firstSeen.has(e.event_id);
    firstSeen.add(e.event_id);
    const purchase: Purchase = { id: e.event_id, time: e.event_time, arrival: item.emittedAt, cents: e.amount_cents ?? 0, product: e.product_id ?? '' };
    if (first && e.type === 'purchase') truth.push(purchase);
    if (opts.dedupe && seen.has(e.event_id)) continue;
    seen.add(e.event_id);
    const p = partitionForKey(e.user_id, PARTITIONS);
    const before = max.get(p);
    if (e.type === 'purchase') {
      const end = minuteOf(e.event_time) + MINUTE;
      if (before !== undefined && before - LAG >= end) {
        dropped.push(purchase);
      } else {
        const w = kept.get(end - MINUTE) ?? { cents: 0, count: 0 };
        w.cents += purchase.cents;
        w.count++;
        kept.set(end - MINUTE, w);
      }
    }
    max.set(p, before === undefined ? e.event_time : Math.max(before, e.event_time));
  }
  const hwm = minuteOf(Math.min(...max.values()) - LAG);
  return { kept, dropped, truth, hwm };
}

function byMinute(list: readonly Purchase[], time: (p: Purchase) => number = (p) => p.time): Map<number, { cents: number; count: number }> {
  const out = new Map<number, { cents: number; count: number }>();
  for (const x of list) {
    const w = out.get(minuteOf(time(x))) ?? { cents: 0, count: 0 };
    w.cents += x.cents;
    w.count++;
    out.set(minuteOf(time(x)), w);
  }
  return out;
}

const cents = (list: readonly Purchase[]) => list.reduce((n, x) => n + x.cents, 0);
const get = (m: Map<number, { cents: number; count: number }>, w: number) => m.get(w) ?? { cents: 0, count: 0 };

test('late-data: the dropped late purchases the demo reports are exactly those the generator delayed past the watermark; after the batch run the merged history equals the truth', { timeout: 60_000 }, async () => {
  const settings = { ...LATE_DATA_DEFAULTS, seed: 5, minutes: 8, now: NOW };
  const { summary, windows } = await runLateData(settings, quietOptions());
  const r = replay(regenerate(settings), { dedupe: true });
  const below = r.dropped.filter((x) => minuteOf(x.time) + MINUTE <= r.hwm);
  assert.ok(r.dropped.length > 0, 'the stream has purchases delayed past the watermark');

  assert.equal(summary.highWaterMark, r.hwm);
  assert.equal(summary.droppedLate, r.dropped.length, 'late purchases dropped by the speed layer');
  assert.equal(summary.droppedBelowHighWaterMark, below.length);
  assert.equal(summary.missingCents, cents(below), 'revenue missing from the speed layer below the high-water mark');
  // The drift report compares windows both layers hold: a minute whose purchases were all dropped is not among them.
  const truth = byMinute(r.truth);
  const compared = [...new Set(below.map((x) => minuteOf(x.time)))].filter((w) => get(truth, w).count > below.filter((x) => minuteOf(x.time) === w).length);
  assert.equal(summary.drift.windowsDiffering, compared.length);
  assert.equal(summary.drift.lateDropped, below.filter((x) => compared.includes(minuteOf(x.time))).length);

  // After the batch run: every window up to the high-water mark from batch, equal to the full truth;
  // later ones from speed, short by exactly their dropped purchases.
  assert.ok(windows.some((w) => w.source === 'batch') && windows.some((w) => w.source === 'speed'));
  for (const w of windows) {
    const t = get(truth, w.window_start);
    const lost = r.dropped.filter((x) => minuteOf(x.time) === w.window_start);
    assert.equal(w.source, w.window_start + MINUTE <= r.hwm ? 'batch' : 'speed');
    const expected = w.source === 'batch' ? t : { cents: t.cents - cents(lost), count: t.count - lost.length };
    assert.deepEqual({ cents: w.served_cents, count: w.served_purchases }, expected, `minute ${new Date(w.window_start).toISOString()}`);
  }
  assert.equal(summary.mergedEqualsTruth, true);
});

test('processing-time: per minute, speed minus batch equals the revenue that arrived in the minute minus the revenue that happened in it', { timeout: 60_000 }, async () => {
  const settings = { ...PROCESSING_TIME_DEFAULTS, seed: 9, minutes: 8, now: NOW };
  const { summary, windows } = await runProcessingTime(settings, quietOptions());
  const r = replay(regenerate(settings), { dedupe: true });
  const happened = byMinute(r.truth);
  const arrived = byMinute(r.truth, (x) => x.arrival);
  assert.equal(summary.highWaterMark, r.hwm);
  const expected = [];
  for (let w = scriptedStream(settings).start; w + MINUTE <= r.hwm; w += MINUTE) {
    expected.push({ window_start: w, diff_cents: get(arrived, w).cents - get(happened, w).cents, diff_purchases: get(arrived, w).count - get(happened, w).count });
  }
  assert.ok(expected.filter((x) => x.diff_cents !== 0).length >= 2, 'revenue moved between several minutes');
  assert.deepEqual(
    windows.map(({ window_start, diff_cents, diff_purchases }) => ({ window_start, diff_cents, diff_purchases })),
    expected,
  );
  assert.equal(summary.windowsDiffering, expected.filter((x) => x.diff_cents !== 0 || x.diff_purchases !== 0).length);
  assert.equal(summary.purchasesShifted, r.truth.filter((x) => minuteOf(x.arrival) !== minuteOf(x.time)).length);
  // The serving layer's drift report sees the same windows differ (each minute has purchases in both layers here).
  assert.equal(summary.drift.windowsDiffering, summary.windowsDiffering);
  assert.equal(summary.drift.lateDropped, 0, 'processing-time windows are never late');
});

for (const lateShare of [0, 0.1]) {
  test(`code-drift (late share ${lateShare}): the hand-written path drifts by exactly the retried purchases it counts twice; the compiled path by nothing${lateShare > 0 ? ' but its late drops' : ''}`, { timeout: 60_000 }, async () => {
    const settings = { ...CODE_DRIFT_DEFAULTS, seed: 21, minutes: 8, lateShare, now: NOW };
    const { summary } = await runCodeDrift(settings, quietOptions());
    const items = regenerate(settings);
    const compiled = replay(items, { dedupe: true });
    const hand = replay(items, { dedupe: false });
    const hwm = compiled.hwm;
    assert.equal(summary.highWaterMark, hwm);
    const truth = byMinute(compiled.truth);
    const minutes = [...truth.keys()].filter((w) => w + MINUTE <= hwm);
    const diff = (kept: Map<number, { cents: number; count: number }>) => ({
      cents: minutes.reduce((n, w) => n + get(kept, w).cents - get(truth, w).cents, 0),
      count: minutes.reduce((n, w) => n + get(kept, w).count - get(truth, w).count, 0),
      windows: minutes.filter((w) => get(kept, w).cents !== get(truth, w).cents || get(kept, w).count !== get(truth, w).count).length,
    });

    const retried = items.filter((i) => i.kind === 'duplicate' && i.event?.type === 'purchase' && minuteOf(Number(i.event.event_time)) + MINUTE <= hwm);
    assert.ok(retried.length > 0, 'the stream has retried purchases');
    const h = diff(hand.kept);
    if (lateShare === 0) {
      assert.equal(h.count, retried.length);
      assert.equal(h.cents, retried.reduce((n, i) => n + Number(i.event!.amount_cents), 0));
    }
    assert.deepEqual(
      { cents: summary.handWritten.diffCents, count: summary.handWritten.diffPurchases, windows: summary.handWritten.windowsDiffering },
      h,
      'hand-written path',
    );
    assert.equal(summary.handWritten.lateDropped, hand.dropped.length);

    const c = diff(compiled.kept);
    const lateBelow = compiled.dropped.filter((x) => minuteOf(x.time) + MINUTE <= hwm);
    assert.deepEqual(c, { cents: 0 - cents(lateBelow), count: 0 - lateBelow.length, windows: new Set(lateBelow.map((x) => minuteOf(x.time))).size });
    assert.deepEqual({ cents: summary.compiled.diffCents, count: summary.compiled.diffPurchases, windows: summary.compiled.windowsDiffering }, c, 'compiled path');
    if (lateShare === 0) assert.equal(summary.compiled.rowsDiffering, 0);
    else assert.ok(lateBelow.length > 0, 'the stream has late drops below the high-water mark');
  });
}

test('reprocess: the buggy run hides one product; the backfill fixes exactly its range; rollback makes the backfill current again; the full run fixes all', { timeout: 60_000 }, async () => {
  const settings = { ...REPROCESS_DEFAULTS, seed: 8, minutes: 12, backfillMinutes: 4, excludeProduct: 'product-01', now: NOW };
  const { summary, steps } = await runReprocess(settings, quietOptions());
  const stream = scriptedStream(settings);
  const { truth: all, hwm } = replay(stream.items, { dedupe: true });
  const range = { from: stream.start, to: stream.start + 12 * MINUTE };
  const truth = byMinute(all);
  const buggy = byMinute(all.filter((x) => x.product !== 'product-01'));
  assert.ok(all.some((x) => x.product === 'product-01'), 'the excluded product sells');
  assert.equal(summary.hiddenCents, cents(all.filter((x) => x.product === 'product-01')));
  const rows = (step: string) => steps.find((s) => s.step === step)!;
  const expect = (m: Map<number, { cents: number; count: number }>, w: number) => ({ window_start: w, cents: get(m, w).cents, purchases: get(m, w).count });
  const minutes: number[] = [];
  for (let w = range.from; w + MINUTE <= range.to; w += MINUTE) minutes.push(w);
  assert.ok(minutes.length >= 10);

  assert.deepEqual(rows('buggy-run').rows, minutes.map((w) => expect(buggy, w)), 'the buggy run computes the buggy definition');
  // The backfill covers the newest 4 complete minutes: up to the high-water mark.
  const backfill = { from: hwm - 4 * MINUTE, to: hwm };
  assert.deepEqual(summary.backfill, backfill);
  const inside = (w: number) => w >= backfill.from && w + MINUTE <= backfill.to;
  assert.deepEqual(
    rows('backfill').rows,
    minutes.map((w) => (inside(w) ? expect(truth, w) : rows('buggy-run').rows.find((r) => r.window_start === w)!)),
    'inside the range: the fixed definition; outside: unchanged',
  );
  assert.ok(minutes.some((w) => !inside(w) && get(truth, w).cents !== get(buggy, w).cents), 'some rows outside the range stay wrong');
  assert.deepEqual(rows('bad-run').rows, minutes.map((w) => expect(buggy, w)));
  assert.equal(rows('rollback').runId, rows('backfill').runId);
  assert.equal(summary.currentAfterRollback, rows('backfill').runId, 'rollback makes the previous run current');
  assert.deepEqual(rows('rollback').rows, rows('backfill').rows);
  assert.deepEqual(rows('full-run').rows, minutes.map((w) => expect(truth, w)));
  assert.deepEqual(summary.runs.map((r) => r.kind), ['full', 'backfill', 'full', 'backfill', 'full']);
});

test('lambda demo --help lists the scenarios; a scenario with --fast --json prints one JSON line of its summary', { timeout: 60_000 }, () => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  // spawnSync holds off the test's own timeout: a run that hangs is killed by its own.
  const sync = { cwd: root, encoding: 'utf8', timeout: 25_000, killSignal: 'SIGKILL' } as const;
  const help = spawnSync(process.execPath, ['bin/lambda.js', 'demo', '--help'], sync);
  assert.equal(help.status, 0, help.stderr);
  for (const name of ['late-data', 'processing-time', 'code-drift', 'reprocess']) assert.match(help.stdout, new RegExp(`\\b${name}\\b`));
  const run = spawnSync(process.execPath, ['bin/lambda.js', 'demo', 'code-drift', '--fast', '--json', '--minutes', '4'], { ...sync, env: { ...process.env, DATA_DIR: '' } });
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split('\n');
  assert.equal(lines.length, 1, run.stdout);
  const summary = JSON.parse(lines[0]!) as { scenario: string; compiled: { windowsDiffering: number } };
  assert.equal(summary.scenario, 'code-drift');
  assert.equal(summary.compiled.windowsDiffering, 0);
  assert.match(run.stderr, /Summary/);
});
