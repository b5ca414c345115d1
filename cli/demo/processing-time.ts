import { parseView, type ViewDefinition } from '@lambda/shared';
import {
  MINUTE,
  Narrator,
  REVENUE,
  VIEWS,
  deliveries,
  floorMinute,
  hhmm,
  minutesOf,
  money,
  plural,
  purchases,
  revenueByWindow,
  scriptedStream,
  signedMoney,
  withPlatform,
  withView,
  type DemoOptions,
  type StreamSettings,
} from './common.ts';

/**
 * `lambda demo processing-time`: the chapter's most common mistake. The speed layer's
 * revenue_per_minute is switched to processing time (the same definition with
 * `timeDomain: 'processing'`), while purchases from phones that were offline arrive minutes after
 * they happened. Each such purchase is counted in the minute it ARRIVED, not the minute it
 * happened: one minute is understated, a later one overstated. The batch layer recomputes in event
 * time, so the drift report shows exactly where revenue moved.
 *
 * The processing clock: the stream is replayed faster than real time, so the wall clock would put
 * everything in one minute. Instead the speed layer runs one pass per minute of arrival time, with
 * its processing clock set to the end of that minute (`startSpeedLayer({ now })`): an event's
 * processing minute is the minute in which it arrived.
 */

export type ProcessingTimeSettings = StreamSettings;

export const PROCESSING_TIME_DEFAULTS: ProcessingTimeSettings = {
  seed: 7,
  minutes: 10,
  rate: 5,
  users: 300,
  products: 20,
  lateShare: 0.15,
  lateDelayMs: 120_000,
  duplicateShare: 0,
};

export interface ShiftFigures {
  window_start: number;
  /** The batch layer: purchases that happened in the minute (event time). */
  batch_cents: number;
  batch_purchases: number;
  /** The speed layer on processing time: purchases that arrived in the minute. */
  speed_cents: number;
  speed_purchases: number;
  /** speed - batch. */
  diff_cents: number;
  diff_purchases: number;
}

export interface ProcessingTimeSummary {
  scenario: 'processing-time';
  seed: number;
  events: number;
  delayedEvents: number;
  /** Purchases whose arrival minute differs from the minute they happened in. */
  purchasesShifted: number;
  centsShifted: number;
  speedPasses: number;
  batchRunId: string;
  highWaterMark: number | null;
  /** Windows up to the high-water mark where the layers differ, by the demo's per-window table. */
  windowsCompared: number;
  windowsDiffering: number;
  /** Sum over those windows of |speed - batch| revenue, and the largest single gap. */
  absoluteDiffCents: number;
  maxDiffCents: number;
  /** Revenue the processing-time view put after the high-water mark although it happened before it. */
  centsPushedPastHighWaterMark: number;
  drift: { windowsCompared: number; windowsDiffering: number; rowsDiffering: number; lateDropped: number; maxAbsoluteDiff: number };
}

export interface ProcessingTimeResult {
  summary: ProcessingTimeSummary;
  windows: ShiftFigures[];
}

/** revenue_per_minute as the speed layer runs it in this scenario: on the processing clock. */
export function processingTimeRevenue(): ViewDefinition {
  return parseView({ ...REVENUE, timeDomain: 'processing' });
}

export async function runProcessingTime(settings: ProcessingTimeSettings, opts: DemoOptions): Promise<ProcessingTimeResult> {
  const say = new Narrator(opts.out, opts.pauseMs);
  say.title('Demo: processing time. The speed layer counts purchases in the minute they arrive, not the minute they happened.');
  say.say(
    'The chapter calls it the most common mistake: the numbers look plausible and are wrong in systematic ways. ' +
      'Here the speed layer runs revenue_per_minute with timeDomain "processing"; the batch layer always computes in event time.',
  );
  return withPlatform(opts, say, async (p) => {
    const stream = scriptedStream(settings);
    const { items } = stream;
    const views = withView(VIEWS, processingTimeRevenue());
    const bought = purchases(items);
    const shifted = bought.filter((x) => floorMinute(x.item.emittedAt) !== floorMinute(x.time));

    await say.step('The scripted stream, and the speed layer on processing time');
    say.detail(
      `${plural(items.length, 'event')} at ${settings.rate}/s of event time, ${hhmm(stream.start)}-${hhmm(stream.end)} UTC (seed ${settings.seed}); ` +
        `${plural(items.filter((i) => i.late).length, 'event')} arrive ${Math.round(settings.lateDelayMs / 2000)}-${Math.round((settings.lateDelayMs * 1.5) / 1000)} s late.`,
      `${plural(shifted.length, 'purchase')} (${money(shifted.reduce((n, x) => n + x.cents, 0))}) arrive in a later minute than they happened in.`,
      'revenue_per_minute in the speed layer: { ...definition, timeDomain: "processing" }; every other view unchanged.',
      'The processing clock: the stream is replayed faster than real time, so the speed layer runs one pass per minute of arrival time ' +
        'with its clock set to the end of that minute. An event is processed in the minute it arrived.',
    );

    await say.step('Delivering the stream, one minute of arrival time per speed-layer pass');
    let passes = 0;
    for (const d of deliveries(stream, MINUTE)) {
      await say.beat();
      await p.ingest(d.items);
      await p.archive();
      const clock = d.to - 1;
      await p.speed({ views, now: () => clock });
      passes++;
      const early = d.items.filter((i) => i.event?.type === 'purchase' && i.late && floorMinute(Number(i.event.event_time)) < d.from);
      say.detail(
        `minute ${hhmm(d.from)} (processing clock ${new Date(clock).toISOString().slice(11, 19)}): ${plural(d.items.length, 'event')} arrived, ` +
          `${plural(early.length, 'purchase')} of them from earlier minutes, counted here (${money(early.reduce((n, i) => n + Number(i.event?.amount_cents ?? 0), 0))})`,
      );
    }
    if (p.address) say.look(`${p.address}/ : revenue per minute from the speed layer, on processing time`);

    await say.step('The batch run recomputes revenue_per_minute in event time');
    const { version } = await p.batch();
    const hwm = version.highWaterMark;
    say.detail(`run ${version.runId}: high-water mark ${hwm === null ? 'none' : hhmm(hwm)}.`);

    await say.step('Where did revenue move? Speed (processing time) against batch (event time), per minute');
    const range = { from: stream.start, to: Math.max(stream.end, floorMinute(stream.lastArrival) + MINUTE) };
    const drift = await p.drift(REVENUE.name, range);
    const batch = revenueByWindow((await p.batchRows(REVENUE, range)).rows);
    const speed = revenueByWindow((await p.speedRows(REVENUE, range)).rows);
    const below = { from: range.from, to: Math.min(range.to, hwm ?? range.from) };
    const windows: ShiftFigures[] = minutesOf(below).map((w) => {
      const b = batch.get(w) ?? { cents: 0, count: 0 };
      const s = speed.get(w) ?? { cents: 0, count: 0 };
      return { window_start: w, batch_cents: b.cents, batch_purchases: b.count, speed_cents: s.cents, speed_purchases: s.count, diff_cents: s.cents - b.cents, diff_purchases: s.count - b.count };
    });
    say.table(
      ['minute', 'batch (happened)', 'speed (arrived)', 'speed - batch'],
      windows.map((w) => [hhmm(w.window_start), money(w.batch_cents), money(w.speed_cents), w.diff_cents === 0 ? '0' : signedMoney(w.diff_cents)]),
    );
    const differing = windows.filter((w) => w.diff_cents !== 0 || w.diff_purchases !== 0);
    const absolute = windows.reduce((n, w) => n + Math.abs(w.diff_cents), 0);
    const pushed = shifted.filter((x) => hwm !== null && x.time < hwm && floorMinute(x.item.emittedAt) + MINUTE > hwm).reduce((n, x) => n + x.cents, 0);
    say.detail(
      'A negative gap: purchases that happened in the minute but arrived later. A positive gap: purchases from earlier minutes that arrived in it.',
      `The drift report (GET /v1/drift) agrees: ${drift.windowsCompared} windows compared, ${drift.windowsDiffering} differ, largest gap ${money(drift.maxAbsoluteDiff)}.`,
    );
    if (pushed > 0) say.detail(`${money(pushed)} happened before the high-water mark but arrived after it: the speed layer shows it in minutes the batch layer has not reached.`);
    if (p.address) say.look(`${p.address}/v1/drift?view=revenue_per_minute&from=${range.from}&to=${range.to}`);

    const summary: ProcessingTimeSummary = {
      scenario: 'processing-time',
      seed: settings.seed,
      events: items.length,
      delayedEvents: items.filter((i) => i.late).length,
      purchasesShifted: shifted.length,
      centsShifted: shifted.reduce((n, x) => n + x.cents, 0),
      speedPasses: passes,
      batchRunId: version.runId,
      highWaterMark: hwm,
      windowsCompared: windows.length,
      windowsDiffering: differing.length,
      absoluteDiffCents: absolute,
      maxDiffCents: Math.max(0, ...windows.map((w) => Math.abs(w.diff_cents))),
      centsPushedPastHighWaterMark: pushed,
      drift: {
        windowsCompared: drift.windowsCompared,
        windowsDiffering: drift.windowsDiffering,
        rowsDiffering: drift.rowsDiffering,
        lateDropped: drift.lateDropped,
        maxAbsoluteDiff: drift.maxAbsoluteDiff,
      },
    };
    await say.step('Summary');
    say.detail(
      `Drift: ${differing.length} of ${windows.length} minutes differ between the layers, by ${money(absolute)} in all (largest ${money(summary.maxDiffCents)}).`,
      `Why: ${plural(shifted.length, 'purchase')} arrived in a later minute than they happened in; on processing time each counts where it arrived. ` +
        'No event was lost or late (processing-time windows never are): revenue moved between minutes, so totals look right and minutes are wrong.',
      'The fix is the definition: revenue_per_minute is an event-time question ("what was sold at 12:05"), so its timeDomain is "event". ' +
        'The batch layer, always in event time, corrects every minute up to the high-water mark.',
    );
    return { summary, windows };
  });
}
