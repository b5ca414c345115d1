import { parseView, type ViewDefinition } from '@lambda/shared';
import { readManifest, type BatchRunResult } from '@lambda/batch-layer';
import {
  MINUTE,
  Narrator,
  REVENUE,
  VIEWS,
  hhmm,
  minutesOf,
  money,
  perMinute,
  plural,
  purchases,
  revenueByWindow,
  scriptedStream,
  withPlatform,
  withView,
  type DemoOptions,
  type Platform,
  type Range,
  type StreamSettings,
} from './common.ts';

/**
 * `lambda demo reprocess`: the batch layer's reason to exist. A bug ships in a view definition
 * (revenue_per_minute was meant to leave out internal test purchases, and the filter names a real
 * product); a batch run publishes wrong history. The definition is fixed and the affected range is
 * backfilled (only that range is recomputed, every other row carried over); then a bad version is
 * published by mistake and rolled back to the good one; a full run finally fixes all of history.
 */

export interface ReprocessSettings extends StreamSettings {
  /** The newest complete minutes (up to the high-water mark) the backfill recomputes. */
  backfillMinutes: number;
  /** The product the buggy filter excludes; null: the stream's best seller. */
  excludeProduct: string | null;
}

export const REPROCESS_DEFAULTS: ReprocessSettings = {
  seed: 3,
  minutes: 16,
  rate: 4,
  users: 300,
  products: 20,
  lateShare: 0,
  lateDelayMs: 60_000,
  duplicateShare: 0,
  backfillMinutes: 6,
  excludeProduct: null,
};

export interface MinuteRevenue {
  window_start: number;
  cents: number;
  purchases: number;
}

export interface ReprocessStep {
  step: 'buggy-run' | 'backfill' | 'bad-run' | 'rollback' | 'full-run';
  runId: string;
  kind: 'full' | 'backfill';
  definition: 'buggy' | 'fixed';
  /** Minutes whose batch row differs from the truth, after this step. */
  wrongMinutes: number;
  rows: MinuteRevenue[];
}

export interface ReprocessSummary {
  scenario: 'reprocess';
  seed: number;
  events: number;
  excludedProduct: string;
  /** What the bug hides: purchases of that product and their revenue. */
  hiddenPurchases: number;
  hiddenCents: number;
  backfill: Range;
  runs: Array<Pick<ReprocessStep, 'step' | 'runId' | 'kind' | 'definition' | 'wrongMinutes'>>;
  /** The current version after the rollback (the backfill's run). */
  currentAfterRollback: string;
  /** The drift report against the (correct) speed layer while the buggy version was current. */
  driftWhileBuggy: { windowsCompared: number; windowsDiffering: number };
}

export interface ReprocessResult {
  summary: ReprocessSummary;
  steps: ReprocessStep[];
  /** The minutes compared: the stream's. */
  range: Range;
}

/** revenue_per_minute with the bug: a filter meant for test purchases that names a real product. */
export function buggyRevenue(product: string): ViewDefinition {
  return parseView({
    ...REVENUE,
    description: `${REVENUE.description} v2: leaves out internal test purchases (BUG: the filter names the real product ${product}).`,
    input: { types: ['purchase'], filter: [{ column: 'product_id', op: 'ne', value: product }] },
  });
}

export async function runReprocess(settings: ReprocessSettings, opts: DemoOptions): Promise<ReprocessResult> {
  const say = new Narrator(opts.out, opts.pauseMs);
  say.title('Demo: reprocess. A bug in a view definition, the fix and a backfill, a bad version rolled back.');
  say.say('The batch layer keeps immutable input (the Parquet archive) and versioned output: any wrong history can be recomputed, and any published version undone.');
  return withPlatform(opts, say, async (p) => {
    const stream = scriptedStream(settings);
    const { items } = stream;
    const bought = purchases(items);
    const product = settings.excludeProduct ?? bestSeller(bought);
    const hidden = bought.filter((x) => x.product === product);
    const truth = perMinute(bought, (x) => x.time, (x) => x.cents);
    const range = { from: stream.start, to: stream.end };
    const buggy = withView(VIEWS, buggyRevenue(product));
    const steps: ReprocessStep[] = [];

    await say.step('The stream is archived, and the speed layer (running the correct definition) keeps up');
    await p.ingest(items);
    const archived = await p.archive();
    await p.speed();
    say.detail(
      `${plural(items.length, 'event')}, ${hhmm(stream.start)}-${hhmm(stream.end)} UTC (seed ${settings.seed}); ${plural(archived.archived, 'event')} archived.`,
      `${plural(bought.length, 'purchase')} worth ${money(bought.reduce((n, x) => n + x.cents, 0))}; ${product}${settings.excludeProduct === null ? ' (the best seller)' : ''} has ${plural(hidden.length, 'purchase')} worth ${money(hidden.reduce((n, x) => n + x.cents, 0))}.`,
    );

    const record = async (step: ReprocessStep['step'], definition: ReprocessStep['definition'], run: BatchRunResult['version'] | { runId: string; kind: 'full' | 'backfill' }) => {
      const rows = await currentRows(p, range);
      const wrong = rows.filter((r) => r.cents !== (truth.get(r.window_start)?.cents ?? 0) || r.purchases !== (truth.get(r.window_start)?.count ?? 0)).length;
      const s: ReprocessStep = { step, runId: run.runId, kind: run.kind, definition, wrongMinutes: wrong, rows };
      steps.push(s);
      return s;
    };

    await say.step(`A bug ships: revenue_per_minute v2 filters product_id != '${product}' (meant to exclude test purchases), and the batch runs with it`);
    const r1 = (await p.batch({ registry: buggy })).version;
    const s1 = await record('buggy-run', 'buggy', r1);
    const hwm = r1.highWaterMark ?? range.to;
    say.detail(`run ${r1.runId} (full, buggy definition): high-water mark ${hhmm(hwm)}; ${s1.wrongMinutes} of ${s1.rows.length} minutes are now wrong.`);
    const drift = await p.drift(REVENUE.name, range);
    say.detail(
      `The drift report notices (the speed layer still runs the correct definition): ${drift.windowsDiffering} of ${drift.windowsCompared} windows differ, ` +
        `with no late events to explain it (lateDropped ${drift.lateDropped}). Drift without late data means the two layers do not compute the same thing.`,
    );
    if (p.address) say.look(`${p.address}/v1/drift?view=revenue_per_minute&from=${range.from}&to=${range.to}`);
    showRows(say, s1.rows, truth, null);

    const backfill = { from: Math.max(range.from, hwm - settings.backfillMinutes * MINUTE), to: hwm };
    await say.step(`The fix, and a backfill of the affected range ${hhmm(backfill.from)}-${hhmm(backfill.to)} (revenue_per_minute only)`);
    const r2 = (await p.batch({ registry: VIEWS, views: [REVENUE.name], from: backfill.from, to: backfill.to })).version;
    const s2 = await record('backfill', 'fixed', r2);
    say.detail(
      `run ${r2.runId} (backfill of [${hhmm(backfill.from)}, ${hhmm(backfill.to)}), based on ${r2.basedOn}): windows inside the range recomputed with the fixed definition; ` +
        `every other row carried over unchanged, and the high-water mark kept (${hhmm(r2.highWaterMark ?? hwm)}).`,
      `${s2.wrongMinutes} minutes are still wrong: those outside the range, carried over from the buggy run. Widen the range, or let the next full run fix them.`,
    );
    showRows(say, s2.rows, truth, backfill);

    await say.step('A bad version is published: someone runs the batch with the old, buggy definition again');
    const r3 = (await p.batch({ registry: buggy })).version;
    const s3 = await record('bad-run', 'buggy', r3);
    say.detail(`run ${r3.runId} (full, buggy definition) is current: ${s3.wrongMinutes} minutes wrong again.`);

    await say.step('Rollback: the previous version becomes current again (lambda batch rollback)');
    const rolled = await p.rollback();
    const s4 = await record('rollback', 'fixed', { runId: rolled.to.runId, kind: rolled.to.kind });
    const current = (await readManifest(p.dataDir))?.current.runId ?? 'none';
    say.detail(
      `rolled back from ${rolled.from} to ${rolled.to.runId}; the manifest's current version is ${current}. ` +
        `The bad version stays kept (roll forward with --to ${rolled.from}), nothing was recomputed: serving switched back at once.`,
      `${s4.wrongMinutes} minutes wrong, as after the backfill.`,
    );
    if (p.address) say.look(`${p.address}/health : batch.runId`);

    await say.step('The next full run, with the fixed definition, recomputes all of history');
    const r5 = (await p.batch({ registry: VIEWS })).version;
    const s5 = await record('full-run', 'fixed', r5);
    say.detail(`run ${r5.runId} (full, fixed definition): ${s5.wrongMinutes} minutes wrong.`);

    const summary: ReprocessSummary = {
      scenario: 'reprocess',
      seed: settings.seed,
      events: items.length,
      excludedProduct: product,
      hiddenPurchases: hidden.length,
      hiddenCents: hidden.reduce((n, x) => n + x.cents, 0),
      backfill,
      runs: steps.map(({ step, runId, kind, definition, wrongMinutes }) => ({ step, runId, kind, definition, wrongMinutes })),
      currentAfterRollback: current,
      driftWhileBuggy: { windowsCompared: drift.windowsCompared, windowsDiffering: drift.windowsDiffering },
    };
    await say.step('Summary');
    say.detail(
      `Drift: while the buggy version was current, ${drift.windowsDiffering} of ${drift.windowsCompared} windows differed between batch and speed: ` +
        `the batch layer left out ${plural(hidden.length, 'purchase')} of ${product} (${money(summary.hiddenCents)}).`,
      'Why: the batch run used a buggy definition. Nothing in the archive was wrong, so recomputing it with the fixed definition fixes history.',
      ...steps.map((s) => `${s.step.padEnd(9)} ${s.runId}  ${s.kind.padEnd(8)} ${s.definition.padEnd(5)}  ${s.wrongMinutes} of ${s.rows.length} minutes wrong`),
    );
    return { summary, steps, range };
  });
}

async function currentRows(p: Platform, range: Range): Promise<MinuteRevenue[]> {
  const rows = revenueByWindow((await p.batchRows(REVENUE, range)).rows);
  return minutesOf(range).map((w) => ({ window_start: w, cents: rows.get(w)?.cents ?? 0, purchases: rows.get(w)?.count ?? 0 }));
}

function bestSeller(bought: ReadonlyArray<{ product: string; cents: number }>): string {
  const by = new Map<string, number>();
  for (const x of bought) by.set(x.product, (by.get(x.product) ?? 0) + x.cents);
  return [...by].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? 'product-00';
}

function showRows(say: Narrator, rows: MinuteRevenue[], truth: Map<number, { cents: number; count: number }>, range: Range | null): void {
  say.table(
    ['minute', 'batch', 'truth', '', range ? 'backfilled' : ''],
    rows.map((r) => {
      const t = truth.get(r.window_start)?.cents ?? 0;
      const inside = range !== null && r.window_start >= range.from && r.window_start + MINUTE <= range.to;
      return [hhmm(r.window_start), money(r.cents), money(t), r.cents === t ? 'ok' : 'WRONG', inside ? 'yes' : ''];
    }),
  );
}
