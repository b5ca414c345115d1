import { TOPICS, type Event, type EventLog, type ViewRow } from '@lambda/shared';
import { compareRows } from '@lambda/serving-layer/drift';
import {
  MINUTE,
  Narrator,
  REVENUE,
  deliveries,
  floorMinute,
  hhmm,
  minutesOf,
  money,
  plural,
  revenueByWindow,
  scriptedStream,
  signedMoney,
  withPlatform,
  type DemoOptions,
  type StreamSettings,
} from './common.ts';

/**
 * `lambda demo code-drift`: why one definition matters. Beside the compiled speed layer (built
 * from the view's definition, as the batch layer's SQL is), a hand-written revenue-per-minute
 * consumer reads the same log. It looks right: the same one-minute windows, the same per-partition
 * watermark (30 s lag), the same `drop` rule for late purchases. One line is missing: it does not
 * remember event ids, so every purchase a producer retried is counted twice. The batch layer and
 * the compiled speed path dedupe (one definition: "an event_id counts once"); the hand-written
 * path drifts, by exactly the retried purchases.
 */

export interface CodeDriftSettings extends StreamSettings {
  bug: 'no-dedupe';
}

export const CODE_DRIFT_DEFAULTS: CodeDriftSettings = {
  seed: 11,
  minutes: 10,
  rate: 5,
  users: 300,
  products: 20,
  lateShare: 0,
  lateDelayMs: 90_000,
  duplicateShare: 0.05,
  bug: 'no-dedupe',
};

const WATERMARK_LAG_MS = 30_000;

/**
 * THE DELIBERATELY WRONG EXAMPLE: revenue per minute written by hand for the speed path, as teams
 * did before one definition compiled to both engines. It follows the definition in everything but
 * one thing: it has no seen-set, so duplicates (producer retries, same event_id) count twice.
 * Do not copy it; the compiled path (speed-layer/src/compile.ts, processor.ts) is the right one.
 */
export class HandWrittenRevenuePerMinute {
  private readonly offsets = new Map<number, number>();
  private readonly maxTime = new Map<number, number>();
  private readonly windows = new Map<number, { cents: bigint; count: bigint }>();
  /** Late purchases dropped, as the definition's `drop` policy says. */
  dropped = 0;

  /** Reads every partition of the events topic from where it stopped up to the end. */
  async catchUp(log: EventLog): Promise<void> {
    for (const [partition, end] of await log.endOffsets(TOPICS.events)) {
      let offset = this.offsets.get(partition) ?? 0;
      while (offset < end) {
        const records = await log.read(TOPICS.events, partition, offset, 1000);
        if (records.length === 0) break;
        for (const r of records) this.onEvent(partition, JSON.parse(r.value) as Event);
        offset = records.at(-1)!.offset + 1;
      }
      this.offsets.set(partition, offset);
    }
  }

  private onEvent(partition: number, e: Event): void {
    // BUG: no `if (seen.has(e.event_id)) return;` here. A retried purchase counts twice.
    const max = this.maxTime.get(partition);
    if (e.type === 'purchase') {
      const start = Math.floor(e.event_time / MINUTE) * MINUTE;
      const watermark = max === undefined ? -Infinity : max - WATERMARK_LAG_MS;
      if (watermark >= start + MINUTE) {
        this.dropped++;
      } else {
        const w = this.windows.get(start) ?? { cents: 0n, count: 0n };
        w.cents += BigInt(e.amount_cents ?? 0);
        w.count += 1n;
        this.windows.set(start, w);
      }
    }
    this.maxTime.set(partition, max === undefined ? e.event_time : Math.max(max, e.event_time));
  }

  /** Rows shaped like the view's (window_start, window_end, revenue_cents, purchases). */
  rows(range: { from: number; to: number }): ViewRow[] {
    return [...this.windows]
      .filter(([start]) => start >= range.from && start + MINUTE <= range.to)
      .sort(([a], [b]) => a - b)
      .map(([start, w]) => ({ window_start: start, window_end: start + MINUTE, revenue_cents: w.cents, purchases: w.count }));
  }
}

export interface CodeDriftWindow {
  window_start: number;
  batch_cents: number;
  batch_purchases: number;
  compiled_cents: number;
  compiled_purchases: number;
  hand_cents: number;
  hand_purchases: number;
}

interface PathDrift {
  windowsDiffering: number;
  /** Sum over windows up to the high-water mark of (path - batch). */
  diffCents: number;
  diffPurchases: number;
  /** The serving layer's comparison (compareRows, as GET /v1/drift computes it). */
  rowsCompared: number;
  rowsDiffering: number;
}

export interface CodeDriftSummary {
  scenario: 'code-drift';
  bug: CodeDriftSettings['bug'];
  seed: number;
  events: number;
  duplicatesDelivered: number;
  duplicatePurchases: number;
  lateEvents: number;
  batchRunId: string;
  highWaterMark: number | null;
  compiled: PathDrift & { lateDropped: number };
  handWritten: PathDrift & { lateDropped: number };
}

export interface CodeDriftResult {
  summary: CodeDriftSummary;
  windows: CodeDriftWindow[];
}

export async function runCodeDrift(settings: CodeDriftSettings, opts: DemoOptions): Promise<CodeDriftResult> {
  const say = new Narrator(opts.out, opts.pauseMs);
  say.title('Demo: code drift. A hand-written speed path beside the compiled one, over the same log.');
  say.say(
    'The chapter: "Over time, these two code paths drift." Here the batch SQL and the compiled speed path come from one definition; ' +
      'a third, hand-written path implements revenue per minute itself, with one small divergence.',
  );
  return withPlatform(opts, say, async (p) => {
    const stream = scriptedStream(settings);
    const { items } = stream;
    const hand = new HandWrittenRevenuePerMinute();
    const dupPurchases = items.filter((i) => i.kind === 'duplicate' && i.event?.type === 'purchase');

    await say.step('The scripted stream');
    say.detail(
      `${plural(items.length, 'event')} at ${settings.rate}/s of event time, ${hhmm(stream.start)}-${hhmm(stream.end)} UTC (seed ${settings.seed}).`,
      `${plural(items.filter((i) => i.kind === 'duplicate').length, 'event')} are sent twice with the same event_id, as a producer retries after a timeout ` +
        `(${plural(dupPurchases.length, 'purchase')} among them); ${plural(items.filter((i) => i.late).length, 'event')} arrive late.`,
      'The hand-written path (cli/demo/code-drift.ts, HandWrittenRevenuePerMinute, labelled as the deliberately wrong example): ' +
        'same windows, same 30 s watermark, same drop rule, but no seen-set: it forgets that an event_id counts once.',
    );

    await say.step('Delivering the stream; the compiled speed layer and the hand-written path both keep up');
    for (const d of deliveries(stream, 2 * MINUTE)) {
      await say.beat();
      await p.ingest(d.items);
      await p.archive();
      await p.speed();
      await hand.catchUp(p.log);
      say.detail(`arrivals ${hhmm(d.from)}-${hhmm(d.to)}: ${plural(d.items.length, 'event')}, ${plural(d.items.filter((i) => i.kind === 'duplicate').length, 'retry', 'retries')}`);
    }
    if (p.address) say.look(`${p.address}/ : the dashboard shows the compiled path; the hand-written one has no API, its rows are printed below`);

    await say.step('The batch run');
    const { version } = await p.batch();
    const hwm = version.highWaterMark;
    say.detail(`run ${version.runId}: high-water mark ${hwm === null ? 'none' : hhmm(hwm)}.`);

    await say.step('Both speed paths against batch, for every minute up to the high-water mark');
    const below = { from: stream.start, to: Math.min(stream.end, hwm ?? stream.start) };
    const batchRows = (await p.batchRows(REVENUE, below)).rows;
    const compiledAnswer = await p.speedRows(REVENUE, below);
    const handRows = hand.rows(below);
    const [b, c, h] = [revenueByWindow(batchRows), revenueByWindow(compiledAnswer.rows), revenueByWindow(handRows)];
    const windows: CodeDriftWindow[] = minutesOf(below).map((w) => ({
      window_start: w,
      batch_cents: b.get(w)?.cents ?? 0,
      batch_purchases: b.get(w)?.count ?? 0,
      compiled_cents: c.get(w)?.cents ?? 0,
      compiled_purchases: c.get(w)?.count ?? 0,
      hand_cents: h.get(w)?.cents ?? 0,
      hand_purchases: h.get(w)?.count ?? 0,
    }));
    say.table(
      ['minute', 'batch', 'compiled speed', 'hand-written', 'hand - batch'],
      windows.map((w) => [hhmm(w.window_start), money(w.batch_cents), money(w.compiled_cents), money(w.hand_cents), w.hand_cents === w.batch_cents ? '0' : signedMoney(w.hand_cents - w.batch_cents)]),
    );
    const pathDrift = (rows: ViewRow[], cents: (w: CodeDriftWindow) => number, count: (w: CodeDriftWindow) => number): PathDrift => {
      const report = compareRows(REVENUE, batchRows, rows);
      return {
        windowsDiffering: windows.filter((w) => cents(w) !== w.batch_cents || count(w) !== w.batch_purchases).length,
        diffCents: windows.reduce((n, w) => n + cents(w) - w.batch_cents, 0),
        diffPurchases: windows.reduce((n, w) => n + count(w) - w.batch_purchases, 0),
        rowsCompared: report.rowsCompared,
        rowsDiffering: report.rowsDiffering,
      };
    };
    const compiled = { ...pathDrift(compiledAnswer.rows, (w) => w.compiled_cents, (w) => w.compiled_purchases), lateDropped: compiledAnswer.lateEvents.drop ?? 0 };
    const handWritten = { ...pathDrift(handRows, (w) => w.hand_cents, (w) => w.hand_purchases), lateDropped: hand.dropped };
    const drift = await p.drift(REVENUE.name, below);
    say.detail(
      `compiled path: ${compiled.windowsDiffering} of ${windows.length} minutes differ from batch (GET /v1/drift: ${drift.rowsDiffering} rows differ, ${drift.lateDropped} late drops).`,
      `hand-written path: ${handWritten.windowsDiffering} of ${windows.length} minutes differ, ${signedMoney(handWritten.diffCents)} and ${handWritten.diffPurchases >= 0 ? '+' : ''}${handWritten.diffPurchases} purchases in all.`,
    );

    const summary: CodeDriftSummary = {
      scenario: 'code-drift',
      bug: settings.bug,
      seed: settings.seed,
      events: items.length,
      duplicatesDelivered: items.filter((i) => i.kind === 'duplicate').length,
      duplicatePurchases: dupPurchases.length,
      lateEvents: items.filter((i) => i.late).length,
      batchRunId: version.runId,
      highWaterMark: hwm,
      compiled,
      handWritten,
    };
    const dupBelow = dupPurchases.filter((i) => hwm !== null && floorMinute(Number(i.event!.event_time)) + MINUTE <= hwm);
    await say.step('Summary');
    say.detail(
      `Drift of the hand-written path: ${signedMoney(handWritten.diffCents)} over ${plural(handWritten.windowsDiffering, 'minute')}: ` +
        `${plural(dupBelow.length, 'retried purchase')} below the high-water mark, each counted twice (${money(dupBelow.reduce((n, i) => n + Number(i.event!.amount_cents), 0))}).`,
      compiled.windowsDiffering === 0
        ? 'Drift of the compiled path: none. It is compiled from the same definition as the batch SQL, dedupe included.'
        : `Drift of the compiled path: ${plural(compiled.windowsDiffering, 'minute')}, only the ${plural(compiled.lateDropped, 'late purchase')} the definition says to drop (the hand-written path dropped ${hand.dropped}).`,
      'Why it matters: the hand-written path passed every test its author thought of; the divergence only shows against the other layer. ' +
        'One definition, compiled to both engines, cannot diverge this way; the drift report would catch it if it did.',
    );
    return { summary, windows };
  });
}
