import {
  MINUTE,
  Narrator,
  REVENUE,
  deliveries,
  hhmm,
  hhmmss,
  minutesOf,
  money,
  perMinute,
  plural,
  purchases,
  revenueByWindow,
  scriptedStream,
  withPlatform,
  type DemoOptions,
  type StreamSettings,
} from './common.ts';

/**
 * `lambda demo late-data`: phones that were offline deliver their events late. revenue_per_minute
 * has the late policy `drop` (the chapter's choice: "the error is small and the metric is
 * approximate anyway"), so the speed layer leaves late purchases out of windows its watermark has
 * closed; the drift report counts them; the next batch run, which reads the complete archive,
 * corrects the history, and the serving layer answers those windows from the batch layer.
 */

export interface LateDataSettings extends StreamSettings {
  /** The stream is delivered (and the speed layer and archiver run) in steps of this much arrival time. */
  stepMinutes: number;
}

export const LATE_DATA_DEFAULTS: LateDataSettings = {
  seed: 42,
  minutes: 12,
  rate: 5,
  users: 300,
  products: 20,
  lateShare: 0.1,
  lateDelayMs: 90_000,
  duplicateShare: 0,
  stepMinutes: 2,
};

export interface WindowFigures {
  window_start: number;
  /** What the phones really sold in the minute (the generator's record). */
  truth_cents: number;
  truth_purchases: number;
  /** What the speed layer holds for the minute. */
  speed_cents: number;
  speed_purchases: number;
  /** Late events the speed layer judged for the window (dropped: policy `drop`). */
  late_dropped: number;
  /** After the batch run: the merged answer, and which layer served it. */
  served_cents: number;
  served_purchases: number;
  source: 'batch' | 'speed';
}

export interface LateDataSummary {
  scenario: 'late-data';
  seed: number;
  events: number;
  lateEvents: number;
  /** Late purchases the generator delivered (not all of them arrive after the watermark). */
  latePurchasesDelivered: number;
  /** Late purchases the speed layer dropped (its late counter for revenue_per_minute, policy drop). */
  droppedLate: number;
  /** Of those, the ones in windows the batch layer covers (window_end <= high-water mark). */
  droppedBelowHighWaterMark: number;
  /** Revenue missing from the speed layer in those windows: sum of batch - speed. */
  missingCents: number;
  /** The drift report (GET /v1/drift) for revenue_per_minute. */
  drift: { windowsCompared: number; windowsDiffering: number; rowsDiffering: number; lateDropped: number; maxAbsoluteDiff: number };
  batchRunId: string;
  highWaterMark: number | null;
  /** Windows up to the high-water mark: served by the batch layer, and equal to the truth. */
  windowsServedByBatch: number;
  mergedEqualsTruth: boolean;
}

export interface LateDataResult {
  summary: LateDataSummary;
  windows: WindowFigures[];
}

export async function runLateData(settings: LateDataSettings, opts: DemoOptions): Promise<LateDataResult> {
  const say = new Narrator(opts.out, opts.pauseMs);
  say.title('Demo: late data. Phones go offline, deliver late, and the batch layer corrects the history.');
  say.say(
    'revenue_per_minute sums purchases per minute of EVENT time, with a 30 s watermark lag and the late policy `drop`: ' +
      'once a partition has seen events 30 s past the end of a minute, a purchase for that minute is dropped by the speed layer.',
  );
  return withPlatform(opts, say, async (p) => {
    const stream = scriptedStream(settings);
    const { items } = stream;
    const latePurchases = items.filter((i) => i.late && i.event?.type === 'purchase');
    await say.step('The scripted stream');
    say.detail(
      `${plural(items.length, 'event')} from ${plural(settings.users, 'user')} at ${settings.rate}/s of event time, ` +
        `${hhmm(stream.start)}-${hhmm(stream.end)} UTC (seed ${settings.seed}).`,
      `${plural(items.filter((i) => i.late).length, 'event')} (${(settings.lateShare * 100).toFixed(1)}%) come from phones that were offline: ` +
        `each arrives ${Math.round(settings.lateDelayMs / 2000)}-${Math.round((settings.lateDelayMs * 1.5) / 1000)} s after it happened. ` +
        `${plural(latePurchases.length, 'late purchase')} among them, worth ${money(sumCents(latePurchases))}.`,
      opts.fast
        ? 'Fast mode: the stream lies in the recent past and is replayed faster than real time, in steps of arrival time; ' +
            'after each step the archiver and the speed layer run once (as `lambda archive --once` and `lambda speed --once`).'
        : `The stream lies in the recent past and is replayed step by step (${settings.stepMinutes} min of arrival time per step), with pauses to look around.`,
    );

    await say.step('Delivering the stream; the speed layer keeps up and drops late purchases');
    let dropped = 0;
    for (const d of deliveries(stream, settings.stepMinutes * MINUTE)) {
      await say.beat();
      await p.ingest(d.items);
      await p.archive();
      await p.speed();
      const late = d.items.filter((i) => i.late);
      const droppedNow = (await p.speedRows(REVENUE, { from: stream.start, to: stream.end + 10 * MINUTE })).lateEvents.drop ?? 0;
      say.detail(
        `arrivals ${hhmmss(d.from)}-${hhmmss(d.to)}: ${plural(d.items.length, 'event')}, ${late.length} late ` +
          `(${plural(late.filter((i) => i.event?.type === 'purchase').length, 'purchase')}); speed layer: ${plural(droppedNow - dropped, 'late purchase')} dropped ` +
          `(${droppedNow} so far)`,
      );
      dropped = droppedNow;
    }
    const range = { from: stream.start, to: stream.end };
    const truth = perMinute(purchases(items), (x) => x.time, (x) => x.cents);
    const speedBefore = await p.speedRows(REVENUE, range);
    const speedRows = revenueByWindow(speedBefore.rows);
    say.detail(`The speed layer has dropped ${plural(dropped, 'late purchase')} in all (its late counter, as on /metrics and in each answer's lateEvents).`);
    if (p.address) {
      say.look(`${p.address}/ : revenue per minute, every bar from speed (no batch run yet)`);
      say.look(`${p.address}/v1/views/revenue_per_minute?from=${range.from}&to=${range.to} : lateEvents.total.drop`);
    }
    const worst = minutesOf(range)
      .map((w) => ({ w, miss: (truth.get(w)?.cents ?? 0) - (speedRows.get(w)?.cents ?? 0) }))
      .filter((x) => x.miss > 0)
      .sort((a, b) => b.miss - a.miss)
      .slice(0, 3);
    for (const { w, miss } of worst) {
      say.detail(`minute ${hhmm(w)}: the phones sold ${money(truth.get(w)?.cents ?? 0)}, the speed layer shows ${money(speedRows.get(w)?.cents ?? 0)}: ${money(miss)} arrived after the watermark closed the minute`);
    }

    await say.step('The batch run recomputes every view from the complete archive');
    const { version } = await p.batch();
    const hwm = version.highWaterMark;
    say.detail(
      `run ${version.runId}: ${plural(version.input.rows, 'archived event')}, high-water mark ${hwm === null ? 'none' : hhmm(hwm)}: ` +
        'every window ending by then is complete in the batch views and is served from them.',
    );

    await say.step('The drift report compares both layers where both hold a window (GET /v1/drift)');
    const drift = await p.drift(REVENUE.name, range);
    const below = { from: range.from, to: Math.min(range.to, hwm ?? range.from) };
    const batchRows = revenueByWindow((await p.batchRows(REVENUE, range)).rows);
    const speedAfter = await p.speedRows(REVENUE, range);
    const speedNow = revenueByWindow(speedAfter.rows);
    let missing = 0;
    let droppedBelow = 0;
    for (const w of minutesOf(below)) {
      missing += (batchRows.get(w)?.cents ?? 0) - (speedNow.get(w)?.cents ?? 0);
      droppedBelow += speedAfter.lateByWindow.get(w) ?? 0;
    }
    say.detail(
      `${drift.windowsCompared} windows compared, ${drift.windowsDiffering} differ; the speed layer dropped ${drift.lateDropped} late purchases in them ` +
        `(lateDropped); largest gap ${drift.largest ? `${drift.largest.column} in ${hhmm(drift.largest.window_start)}: batch ${drift.largest.batch}, speed ${drift.largest.speed}` : 'none'}.`,
      `Below the high-water mark the speed layer is short by ${money(missing)}, exactly the ${plural(droppedBelow, 'late purchase')} it dropped there.`,
    );
    if (p.address) say.look(`${p.address}/v1/drift?view=revenue_per_minute&from=${range.from}&to=${range.to} (and the drift panel of the dashboard)`);

    await say.step('The merged answer: windows up to the high-water mark now come from batch');
    const served = await p.served(REVENUE.name, range);
    const windows: WindowFigures[] = served.rows.map((r) => {
      const w = r.window_start;
      return {
        window_start: w,
        truth_cents: truth.get(w)?.cents ?? 0,
        truth_purchases: truth.get(w)?.count ?? 0,
        speed_cents: speedNow.get(w)?.cents ?? 0,
        speed_purchases: speedNow.get(w)?.count ?? 0,
        late_dropped: speedAfter.lateByWindow.get(w) ?? 0,
        served_cents: Number(r.revenue_cents),
        served_purchases: Number(r.purchases),
        source: r.source,
      };
    });
    const fromBatch = windows.filter((w) => w.source === 'batch');
    const equal = fromBatch.every((w) => w.served_cents === w.truth_cents && w.served_purchases === w.truth_purchases);
    say.table(
      ['minute', 'truth', 'speed', 'dropped', 'served', 'from'],
      windows.map((w) => [hhmm(w.window_start), money(w.truth_cents), money(w.speed_cents), String(w.late_dropped), money(w.served_cents), w.source]),
    );
    say.detail(`${fromBatch.length} windows served by batch: ${equal ? 'every one equals the truth' : 'SOME DIFFER FROM THE TRUTH (a bug)'}.`);
    if (p.address) say.look(`${p.address}/ : the bars left of the high-water mark are now batch bars, and taller where purchases were dropped`);

    const summary: LateDataSummary = {
      scenario: 'late-data',
      seed: settings.seed,
      events: items.length,
      lateEvents: items.filter((i) => i.late).length,
      latePurchasesDelivered: latePurchases.length,
      droppedLate: speedAfter.lateEvents.drop ?? 0,
      droppedBelowHighWaterMark: droppedBelow,
      missingCents: missing,
      drift: {
        windowsCompared: drift.windowsCompared,
        windowsDiffering: drift.windowsDiffering,
        rowsDiffering: drift.rowsDiffering,
        lateDropped: drift.lateDropped,
        maxAbsoluteDiff: drift.maxAbsoluteDiff,
      },
      batchRunId: version.runId,
      highWaterMark: hwm,
      windowsServedByBatch: fromBatch.length,
      mergedEqualsTruth: equal,
    };
    await say.step('Summary');
    say.detail(
      `Drift: the speed layer was short by ${money(missing)} over ${plural(drift.windowsDiffering, 'window')}, because it dropped ` +
        `${plural(summary.droppedLate, 'late purchase')} (${droppedBelow} of them in windows the batch layer now covers).`,
      `Why: ${latePurchases.length} purchases arrived late; those that arrived after their partition's watermark (max event time - 30 s) ` +
        'had passed the end of their minute were dropped, by the definition (late policy `drop`), and counted.',
      `Correction: batch run ${version.runId} read the complete archive; the ${fromBatch.length} windows up to the high-water mark are served from it ` +
        `and ${equal ? 'equal the full truth' : 'do NOT equal the truth'}. Windows after the mark still come from the speed layer.`,
    );
    return { summary, windows };
  });
}

function sumCents(items: ReadonlyArray<{ event: Record<string, unknown> | null }>): number {
  return items.reduce((n, i) => n + Number(i.event?.amount_cents ?? 0), 0);
}
