import { paneStart, slideOf, type Aggregate, type BatchEvents, type Event, type FixedWindow, type StateOp, type StateStore, type ViewDefinition } from '@lambda/shared';
import { addExact, emptyPartial, mergePartial, type CompiledView, type ExactInt, type Partial } from './compile.ts';
import { FIELDS, KEYS, META } from './keys.ts';
import { BatchIds, hashId, NewIds, SeenIndex } from './seen-index.ts';
import { sessionGroups, type SessionGroup } from './session-groups.ts';
import { addToSessions, coveredWindows, coveredWindowsOfBounds, decodeSessions, encodeSessions, sessionSpan, WindowStarts, type Session } from './sessions.ts';

/**
 * Turns one batch of one log partition into state operations for every view, and commits them
 * with the partition's next offset in one fenced step. Everything the decisions depend on
 * (seen event ids, the partition's max event time, session state) is what the store holds at the
 * start of the batch (read from it; the seen ids kept from this processor's last commit while the
 * stored offset is still the one it left) and is written back in the same commit, so a replay
 * from the stored offset makes exactly the same decisions: the same events are duplicates, the
 * same ones are late.
 *
 * Per event, in log order: a duplicate (event_id seen within the horizon) is skipped; otherwise,
 * for each view, the partition's watermark BEFORE this event (max event time seen minus the view's
 * lag) decides lateness, and only then does the event advance the max event time. A window is
 * closed for the event when `watermark >= window end + allowedLateness`; for sessions the window is
 * the session the event would belong to after merging.
 */

export type LatePolicy = ViewDefinition['latePolicy'];

/**
 * A batch of one partition's records is read as their events, by number, in offset order
 * (`BatchEvents`): not an array of record objects, since a packed batch answers from its columns,
 * where an object per record was 4% of the processing thread's allocations. An event is made (`at`)
 * at most once per plan of the batch, only where some view takes its type, and not kept past the plan.
 */
export interface InputRecord {
  readonly offset: number;
  /** Null for a record that failed validation (it reaches no view). */
  readonly event: Event | null;
}

/** Records as objects, as a batch (records decoded on this thread, and tests). */
export function recordsBatch(records: readonly InputRecord[]): BatchEvents {
  return {
    length: records.length,
    offset: (i) => records[i]!.offset,
    at: (i) => records[i]!.event,
    type: (i) => records[i]!.event?.type ?? null,
    eventId: (i) => records[i]!.event!.event_id,
    eventTime: (i) => records[i]!.event!.event_time,
  };
}

export interface LateEvent {
  view: string;
  partition: number;
  offset: number;
  watermark: number;
  event: Event;
}

export interface ProcessorOptions {
  views: CompiledView[];
  /** How long (in event time behind the partition's max) an event_id is remembered; Infinity: always. */
  dedupeHorizonMs: number;
  /** Processing clock: processing-time views, and the partition's last-activity stamp. */
  now?: () => number;
}

export interface BatchOutcome {
  /** False when the store already held this batch (its offset had moved past it). */
  applied: boolean;
  nextOffset: number;
  events: number;
  duplicates: number;
  invalid: number;
  /** Late events per view and policy. */
  late: Map<string, number>;
  maxTime: number | null;
  opCount: number;
}

export interface BatchContext {
  /** Windows ending at or before this are evicted, and no longer updated. -Infinity: keep all. */
  evictBefore: number;
  /** Called with the side output before the commit (so a crash re-sends rather than loses it). */
  onLate?: (late: LateEvent[]) => Promise<void>;
}

export class OffsetGapError extends Error {}

interface Held {
  /** At the offset committed. */
  index: SeenIndex;
  maxTime: number | null;
}

/** The views as a batch works through them: fixed-window views one by one, session views by shared state. */
interface ViewLayout {
  /** The views that keep window hashes (fixed windows, open_sessions counts): the ones with windows to evict. */
  windowed: CompiledView[];
  fixed: CompiledView[];
  groups: SessionGroup[];
  /** The event types some view takes: the events of the others are never made. */
  types: ReadonlySet<string>;
}

export class Processor {
  private readonly now: () => number;
  private readonly layout: ViewLayout;
  /** Per partition, what this processor's last commit left: the seen-set (seen-index.ts) and the max event time. */
  private readonly held = new Map<number, Held>();

  constructor(
    private readonly store: StateStore,
    private readonly opts: ProcessorOptions,
  ) {
    this.now = opts.now ?? Date.now;
    const fixed = opts.views.filter((v) => v.def.window.kind !== 'session');
    const windowed = opts.views.filter((v) => v.def.window.kind !== 'session' || v.def.output.kind === 'open_sessions');
    this.layout = { windowed, fixed, groups: sessionGroups(opts.views), types: new Set(opts.views.flatMap((v) => v.def.input.types)) };
  }

  /** Lets go of what it holds for partitions other than these (after a rebalance took them away). */
  keepOnly(partitions: readonly number[]): void {
    for (const p of this.held.keys()) if (!partitions.includes(p)) this.held.delete(p);
  }

  async process(partition: number, records: BatchEvents, ctx: BatchContext): Promise<BatchOutcome> {
    // A fence failure means another writer moved the offset meanwhile (a rebalance): re-plan
    // from what the store now holds; the part it already applied is skipped.
    for (;;) {
      const plan = await this.plan(partition, records, ctx);
      if (!plan.todo) return plan.outcome;
      const { lateEvents } = plan.batch;
      if (lateEvents.length > 0) await ctx.onLate?.(lateEvents);
      if (await this.commit(partition, plan)) {
        this.held.set(partition, { index: plan.batch.indexAfter(plan.outcome.nextOffset), maxTime: plan.outcome.maxTime });
        return plan.outcome;
      }
      this.held.delete(partition);
    }
  }

  /**
   * Hands the plan's operations to the store, and lets go of them: a commit takes about as long as
   * planning, and meanwhile another partition's batch is planned, whose young-generation
   * collections would copy them.
   */
  private commit(partition: number, plan: { expected: number | null; outcome: BatchOutcome; ops: StateOp[] }): Promise<boolean> {
    const { ops } = plan;
    plan.ops = [];
    return this.store.commit(partition, plan.expected, plan.outcome.nextOffset, ops);
  }

  private async plan(partition: number, records: BatchEvents, ctx: BatchContext) {
    const n = records.length;
    // A batch that starts where this processor's last commit ended finds the store as that commit
    // left it, unless another writer moved the partition meanwhile: the commit's fence finds that,
    // and the batch is planned again from what the store then holds. Two reads fewer per batch,
    // each a round trip that waits behind another partition's commit.
    const held = this.held.get(partition);
    const trusted = held && n > 0 && records.offset(0) === held.index.offset ? held : null;
    const stored = trusted ? trusted.index.offset : ((await this.store.offsets([partition])).get(partition) ?? null);
    // The records before `from` are applied already (a replay after a crash): offsets ascend.
    let from = 0;
    if (stored !== null) while (from < n && records.offset(from) < stored) from++;
    const outcome: BatchOutcome = {
      applied: from < n,
      nextOffset: n > 0 ? records.offset(n - 1) + 1 : (stored ?? 0),
      events: 0,
      duplicates: 0,
      invalid: 0,
      late: new Map(),
      maxTime: null,
      opCount: 0,
    };
    // Another writer moved the partition since this processor's last commit: its index is stale.
    let index = held?.index ?? null;
    if (index && index.offset !== stored) {
      this.held.delete(partition);
      index = null;
    }
    if (from === n) return { todo: false as const, outcome };
    if (stored !== null && records.offset(from) > stored) {
      throw new OffsetGapError(`partition ${partition}: the store is at offset ${stored} but the batch starts at ${records.offset(from)}`);
    }
    const batch = new BatchPlan(this.store, partition, this.opts.dedupeHorizonMs, this.layout, ctx, this.now(), index ?? stored, trusted?.maxTime);
    await batch.load(records, from);
    batch.run(records, from, outcome);
    const ops = batch.ops();
    outcome.opCount = ops.length;
    return { todo: true as const, outcome, expected: stored, ops, batch };
  }
}

interface PaneAccumulator {
  /** A number, not a bigint: a batch holds far fewer than 2^53 events, and a bigint add allocates. */
  events: number;
  partials: Partial[];
}

interface SessionState {
  /** The key's sessions, decoded for this batch, and changed by it in place. */
  list: Session[];
  /**
   * Where their bounds before the batch's first change lie in the plan's `beforeBounds`, from
   * `before` to `beforeEnd` (flushSessions diffs against them); -1 while unchanged.
   */
  before: number;
  beforeEnd: number;
}

/** The work of one batch: loaded state, then the operations that bring it up to date. */
class BatchPlan {
  readonly lateEvents: LateEvent[] = [];
  /** The records' events that some view takes (else null), from load to the end of run. */
  private events: (Event | null)[] = [];
  private maxTime: number | null = null;
  private seenIndex!: SeenIndex;
  /** The ids this batch saw first, by the seen-set generation they join. */
  private readonly fresh = new Map<number, NewIds>();
  /** All of them: a copy within the batch is a duplicate too. */
  private taken!: BatchIds;
  /** Names this batch's blob in each generation's hash: its first offset. */
  private firstOffset = 0;
  private readonly sessions = new Map<string, Map<string, SessionState>>();
  private readonly evictions: StateOp[] = [];
  private readonly evictedKeys = new Map<string, Set<string>>();
  private readonly increments = new Map<string, Map<string, ExactInt>>();
  private readonly extremes = new Map<string, Map<string, { op: 'hmin' | 'hmax'; value: number }>>();
  private readonly sets = new Map<string, Map<string, string>>();
  private readonly indexAdds = new Map<string, Map<string, number>>();
  private readonly lateCounts = new Map<string, Map<LatePolicy, number>>();
  /** Fixed-window views: view -> pane start -> windows closed for the event -> key -> what the events add. */
  private readonly panes = new Map<string, Map<number, Map<number, Map<string, PaneAccumulator>>>>();
  /**
   * Per fixed-window view (by its number in the layout), the accumulators its last event went to:
   * a batch's events, in log order, mostly share a pane, where three map lookups per event and view
   * found them.
   */
  private readonly lastPanes: ({ pane: number; closed: number; byKey: Map<string, PaneAccumulator> } | undefined)[] = [];
  /** open_sessions views: view -> window start -> its key, and whether the window's index entry is written. */
  private readonly openWindows = new Map<string, Map<number, { key: string; indexed: boolean }>>();
  private startMaxTime: number | null = null;
  /** The bounds of the sessions of every key the batch changed, as they were before (SessionState.before). */
  private readonly beforeBounds: number[] = [];
  /** An event's contributions to a session group's aggregates, refilled per event (session). */
  private readonly contribution: Partial[] = [];
  /** The windows a key's sessions covered before the batch and after it (countOpen), refilled per key. */
  private readonly before = new WindowStarts();
  private readonly after = new WindowStarts();

  constructor(
    private readonly store: StateStore,
    private readonly partition: number,
    private readonly dedupeHorizonMs: number,
    private readonly layout: ViewLayout,
    private readonly ctx: BatchContext,
    private readonly nowMs: number,
    /** The seen index this processor holds for the stored offset, or that offset, to load one at. */
    private readonly known: SeenIndex | number | null,
    /** The max event time this processor's last commit left, where the batch follows on from it; undefined: read it. */
    private readonly heldMaxTime: number | null | undefined,
  ) {}

  /** Loads what the records from `from` on need. */
  async load(records: BatchEvents, from: number): Promise<void> {
    this.events = new Array<Event | null>(records.length - from);
    const { types } = this.layout;
    for (let i = from; i < records.length; i++) {
      const type = records.type(i);
      this.events[i - from] = type !== null && types.has(type) ? records.at(i) : null;
    }
    const p = this.partition;
    const { windowed, groups } = this.layout;
    const cutoff = this.ctx.evictBefore;
    // Read first: which generations of the seen-set to consult follows from it.
    this.maxTime = this.heldMaxTime !== undefined ? this.heldMaxTime : await this.storedMaxTime();
    this.startMaxTime = this.maxTime;
    const [index, sessionLists, windowEvictions, sessionEvictions] = await Promise.all([
      this.loadIndex(),
      Promise.all(
        groups.map(async (g) => {
          const touched = new Set<string>();
          for (const e of this.events) if (e && g.lead.accepts(e)) touched.add(g.lead.keyOf(e));
          const keys = [...touched];
          return { g, keys, texts: await this.store.hmget(p, KEYS.sessions(g.state), keys) };
        }),
      ),
      Number.isFinite(cutoff)
        ? Promise.all(windowed.map(async (v) => ({ v, windows: await this.store.zrangeByScore(p, KEYS.windows(v.def.name), -Infinity, cutoff) })))
        : [],
      Number.isFinite(cutoff)
        ? Promise.all(groups.map(async (g) => ({ g, keys: await this.store.zrangeByScore(p, KEYS.sessionIndex(g.state), -Infinity, cutoff) })))
        : [],
    ]);
    this.seenIndex = index;
    for (const { v, windows } of windowEvictions) {
      for (const w of windows) {
        this.evictions.push({ op: 'del', key: KEYS.window(v.def.name, Number(w.member)) }, { op: 'zrem', key: KEYS.windows(v.def.name), member: w.member });
      }
    }
    for (const { g, keys } of sessionEvictions) {
      this.evictedKeys.set(g.state, new Set(keys.map((k) => k.member)));
      for (const k of keys) this.evictions.push({ op: 'hdel', key: KEYS.sessions(g.state), field: k.member }, { op: 'zrem', key: KEYS.sessionIndex(g.state), member: k.member });
    }
    for (const { g, keys, texts } of sessionLists) {
      const byKey = new Map<string, SessionState>();
      const evicted = this.evictedKeys.get(g.state);
      keys.forEach((k, i) => {
        // Sessions past retention are dropped as the key is touched, so a busy key's list stays short.
        const list = evicted?.has(k) ? [] : decodeSessions(texts[i] ?? null, g.aggregates).filter((s) => retainedUntil(g, s) > cutoff);
        byKey.set(k, { list, before: -1, beforeEnd: -1 });
      });
      this.sessions.set(g.state, byKey);
    }
  }

  private async storedMaxTime(): Promise<number | null> {
    const [max] = await this.store.hmget(this.partition, KEYS.meta, [META.maxTime]);
    return max === null || max === undefined ? null : Number(max);
  }

  /** Runs the records from `from` on, whose events load read. */
  run(records: BatchEvents, from: number, outcome: BatchOutcome): void {
    this.firstOffset = records.offset(from);
    this.taken = new BatchIds(this.events.length);
    for (let i = from; i < records.length; i++) {
      if (records.type(i) === null) {
        outcome.invalid++;
        continue;
      }
      const id = records.eventId(i);
      const h = hashId(id);
      if (this.taken.has(id, h) || this.seenIndex.has(id, h)) {
        outcome.duplicates++;
        continue;
      }
      this.taken.add(id, h);
      outcome.events++;
      const e = this.events[i - from];
      if (e) this.apply(e, records.offset(i));
      const time = records.eventTime(i);
      this.maxTime = this.maxTime === null ? time : Math.max(this.maxTime, time);
      this.remember(id, h, this.maxTime);
    }
    // The batch's commit can take as long as its planning: its events would outlive it meanwhile.
    this.events = [];
    outcome.maxTime = this.maxTime;
    for (const [view, byPolicy] of this.lateCounts) for (const n of byPolicy.values()) outcome.late.set(view, (outcome.late.get(view) ?? 0) + n);
  }

  /** Hands an event seen for the first time to every view that takes it, each judging it late or not against the partition's clock so far. */
  private apply(e: Event, offset: number): void {
    for (let k = 0; k < this.layout.fixed.length; k++) {
      const v = this.layout.fixed[k]!;
      if (!v.accepts(e)) continue;
      const watermark = this.watermark(v.def);
      if (this.fixed(k, v, e, this.timeOf(v.def, e), watermark)) this.late(v, offset, e, watermark);
    }
    for (const g of this.layout.groups) {
      if (!g.lead.accepts(e)) continue;
      const watermark = this.watermark(g.lead.def);
      // The members take the same events into the same sessions: each counts the event late.
      if (this.session(g, e, this.timeOf(g.lead.def, e), watermark)) for (const v of g.views) this.late(v, offset, e, watermark);
    }
  }

  /** Processing-time views place an event at the processing clock. */
  private timeOf(def: ViewDefinition, e: Event): number {
    return def.timeDomain === 'event' ? e.event_time : this.nowMs;
  }

  /** The partition's watermark for the view: before any event nothing is late, and processing time is never late. */
  private watermark(def: ViewDefinition): number {
    return def.timeDomain === 'event' && this.maxTime !== null ? this.maxTime - def.watermarkLagMs : -Infinity;
  }

  ops(): StateOp[] {
    for (const v of this.layout.fixed) this.flushPanes(v);
    for (const g of this.layout.groups) this.flushSessions(g);
    // Tens of thousands per batch: made to size rather than pushed (each growth a copy), and the
    // maps walked with forEach (for-of makes an entry array per element).
    const ops = new Array<StateOp>(this.evictions.length + entries(this.increments) + entries(this.extremes) + entries(this.sets) + entries(this.indexAdds));
    let n = 0;
    for (const op of this.evictions) ops[n++] = op;
    this.increments.forEach((fields, key) => fields.forEach((by, field) => (ops[n++] = { op: 'hincrby', key, field, by })));
    this.extremes.forEach((fields, key) => fields.forEach((x, field) => (ops[n++] = { op: x.op, key, field, value: x.value })));
    this.sets.forEach((fields, key) => fields.forEach((value, field) => (ops[n++] = { op: 'hset', key, field, value })));
    this.indexAdds.forEach((members, key) => members.forEach((score, member) => (ops[n++] = { op: 'zadd', key, member, score })));
    this.seenOps(ops);
    if (this.maxTime !== this.startMaxTime) ops.push({ op: 'hset', key: KEYS.meta, field: META.maxTime, value: String(this.maxTime) });
    ops.push({ op: 'hset', key: KEYS.meta, field: META.updatedAt, value: String(this.nowMs) });
    // The state the operations were made from: not needed past this point, and it would live through the commit.
    for (const m of [this.sessions, this.panes, this.increments, this.extremes, this.sets, this.indexAdds, this.openWindows, this.evictedKeys]) m.clear();
    this.lastPanes.length = 0;
    this.beforeBounds.length = 0;
    return ops;
  }

  /**
   * The seen-set comes in generations of one horizon of the partition's max event time: an id
   * joins the generation current once it is seen, lookups consult the current and the
   * previous one, and a generation is dropped whole once two newer ones have begun. So an id is
   * remembered for at least one horizon and at most two; dropping a whole generation is one
   * UNLINK, where pruning one sorted set by score cost Redis a skip-list update per id, on top of
   * keeping it.
   */
  private generationOf(maxTime: number): number {
    return Number.isFinite(this.dedupeHorizonMs) ? Math.floor(maxTime / this.dedupeHorizonMs) : 0;
  }

  /** The seen index at the batch's start: the one held, else the generations lookups consult, read from the store. */
  private async loadIndex(): Promise<SeenIndex> {
    if (this.known instanceof SeenIndex) return this.known;
    // No event committed yet: no seen-set either.
    if (this.startMaxTime === null) return SeenIndex.of(this.known, new Map());
    const current = this.generationOf(this.startMaxTime);
    const generations = Number.isFinite(this.dedupeHorizonMs) ? [current - 1, current] : [current];
    const blobs = await Promise.all(generations.map(async (g) => [g, Object.values(await this.store.hgetall(this.partition, KEYS.seen(g)))] as const));
    return SeenIndex.of(this.known, new Map(blobs));
  }

  /** The index once this batch is committed at `offset`: with the ids it added, without the generations it dropped. */
  indexAfter(offset: number): SeenIndex {
    this.seenIndex.advance(offset, this.fresh, (g) => this.keeps(g));
    return this.seenIndex;
  }

  /** Whether the seen-set keeps a generation after this batch: the current one and the one before. */
  private keeps(generation: number): boolean {
    return this.maxTime === null || generation >= this.generationOf(this.maxTime) - 1;
  }

  /** The id joins the generation of the partition clock as the event leaves it. */
  private remember(id: string, h: number, maxTime: number): void {
    const g = this.generationOf(maxTime);
    let ids = this.fresh.get(g);
    // No generation takes more new ids than the batch has events.
    if (!ids) this.fresh.set(g, (ids = new NewIds(this.events.length)));
    ids.push(id, h);
  }

  private seenOps(ops: StateOp[]): void {
    for (const [g, ids] of this.fresh) if (this.keeps(g)) ops.push({ op: 'hset', key: KEYS.seen(g), field: String(this.firstOffset), value: ids.blob });
    if (this.startMaxTime === null) return;
    const start = this.generationOf(this.startMaxTime);
    for (const g of [start - 1, start]) if (!this.keeps(g)) ops.push({ op: 'del', key: KEYS.seen(g) });
  }

  /**
   * Adds an event to its pane's accumulator: the S/L windows holding t are assembled from panes
   * when the batch is written (flushPanes), so an event costs one update however many windows hold
   * it. Of those windows, the closed ones are the earliest ending, so how late the event is comes
   * down to one number: how many of them were closed for it.
   */
  private fixed(k: number, v: CompiledView, e: Event, t: number, watermark: number): boolean {
    const def = v.def;
    const w = def.window as FixedWindow;
    const slide = slideOf(w);
    const pane = paneStart(t, slide);
    const firstEnd = pane + slide;
    const closed = Math.min(w.sizeMs / slide, Math.max(0, Math.floor((watermark - def.allowedLatenessMs - firstEnd) / slide) + 1));
    let last = this.lastPanes[k];
    if (last?.pane !== pane || last.closed !== closed) {
      last = { pane, closed, byKey: inner(inner(inner(this.panes, def.name), pane), closed) };
      this.lastPanes[k] = last;
    }
    const byKey = last.byKey;
    const key = v.keyOf(e);
    let acc = byKey.get(key);
    if (!acc) byKey.set(key, (acc = { events: 0, partials: v.aggregates.map((a) => emptyPartial(a.def)) }));
    acc.events++;
    for (let i = 0; i < v.aggregates.length; i++) {
      const a = v.aggregates[i]!;
      const c = a.contribution(e);
      if (c !== undefined) acc.partials[i] = mergePartial(a.def, acc.partials[i]!, c);
    }
    // Late when a closed window is still kept: evicted windows are not judged at all.
    return closed > 0 && firstEnd + (closed - 1) * slide > this.ctx.evictBefore;
  }

  /** The pane accumulators of a fixed-window view, added to every window that holds their pane. */
  private flushPanes(v: CompiledView): void {
    const def = v.def;
    const w = def.window as FixedWindow;
    const slide = slideOf(w);
    for (const [pane, byClosed] of this.panes.get(def.name) ?? []) {
      // The kept windows holding the pane, by their number among all that hold it (earliest first).
      const windows: { j: number; key: string }[] = [];
      for (let j = 0, start = pane + slide - w.sizeMs; start <= pane; j++, start += slide) {
        const end = start + w.sizeMs;
        if (end <= this.ctx.evictBefore) continue;
        windows.push({ j, key: KEYS.window(def.name, start) });
        this.index(KEYS.windows(def.name), String(start), end);
      }
      // forEach, not for-of, over the keys: for-of makes an entry array per key.
      byClosed.forEach((byKey, closed) =>
        byKey.forEach((acc, key) => {
          // Named once per key, not once per window: every window holding the pane takes the same.
          const rows = FIELDS.rows(key);
          const fields = v.aggregates.map((a) => FIELDS.aggregate(a.def.name, key));
          for (const { j, key: wk } of windows) {
            if (j < closed) {
              this.incr(wk, FIELDS.late, acc.events);
              if (def.latePolicy !== 'update') continue;
              this.set(wk, FIELDS.revised, '1');
            }
            this.incr(wk, rows, acc.events);
            v.aggregates.forEach((a, i) => this.addPartial(wk, a.def, key, fields[i]!, acc.partials[i]!));
          }
        }),
      );
    }
  }

  /** `field`: the aggregate's field for the key (`FIELDS.aggregate`); count_distinct writes one per value instead. */
  private addPartial(wk: string, a: Aggregate, key: string, field: string, p: Partial): void {
    switch (a.fn) {
      case 'count':
      case 'sum':
        if (p !== 0 && p !== 0n) this.incr(wk, field, p as ExactInt);
        return;
      case 'min':
      case 'max':
        if (p !== null) this.extreme(wk, field, a.fn === 'min' ? 'hmin' : 'hmax', p as number);
        return;
      case 'count_distinct':
        for (const value of p as Set<string>) this.set(wk, FIELDS.distinct(a.name, key, value), '1');
    }
  }

  private session(g: SessionGroup, e: Event, t: number, watermark: number): boolean {
    const def = g.lead.def;
    const state = this.sessions.get(g.state)!.get(g.lead.keyOf(e))!;
    const span = sessionSpan(state.list, t, g.gapMs);
    const closed = watermark >= span.last + g.gapMs + def.allowedLatenessMs;
    if (closed && def.latePolicy !== 'update') return true;
    // Only the bounds of the loaded sessions are kept, for flushSessions to diff against, all in
    // one array: the sessions were decoded for this batch, and a copy of each was about half of
    // this step's allocations.
    if (state.before < 0) {
      state.before = this.beforeBounds.length;
      for (let i = 0; i < state.list.length; i++) this.beforeBounds.push(state.list[i]!.first, state.list[i]!.last);
      state.beforeEnd = this.beforeBounds.length;
    }
    // Into one buffer the batch refills (addToSessions copies it where it starts a session): most
    // events extend a session, and an array per event was their largest allocation here.
    const contribution = this.contribution;
    for (let i = 0; i < g.aggregates.length; i++) {
      const a = g.aggregates[i]!;
      contribution[i] = a.contribution(e) ?? emptyPartial(a.def);
    }
    addToSessions(state.list, span, contribution, g.aggregateDefs, closed);
    return closed;
  }

  private flushSessions(g: SessionGroup): void {
    // Named once, not per key: each name made anew was hashed anew by the maps it keys.
    const lists = KEYS.sessions(g.state);
    const index = KEYS.sessionIndex(g.state);
    // forEach, not for-of: for-of makes an entry array per key.
    this.sessions.get(g.state)?.forEach((state, key) => {
      if (state.before < 0) return;
      this.set(lists, key, encodeSessions(state.list, g.aggregates));
      let until = -Infinity;
      for (const s of state.list) until = Math.max(until, retainedUntil(g, s));
      this.index(index, key, until);
      for (const v of g.views) if (v.def.output.kind === 'open_sessions') this.countOpen(v.def.name, v.def.output.sizeMs, g.gapMs, state);
    });
  }

  /**
   * A key counts once per window however many of its sessions overlap it: diff the windows covered
   * before and after the batch, both ascending, in one walk.
   */
  private countOpen(view: string, size: number, gap: number, state: SessionState): void {
    const before = coveredWindowsOfBounds(this.beforeBounds, state.before, state.beforeEnd, gap, size, this.before);
    const after = coveredWindows(state.list, gap, size, this.after);
    let i = 0;
    let j = 0;
    while (i < before.length || j < after.length) {
      const prev = i < before.length ? before.at(i) : Infinity;
      const next = j < after.length ? after.at(j) : Infinity;
      if (prev === next) {
        i++;
        j++;
      } else if (next < prev) {
        j++;
        if (next + size <= this.ctx.evictBefore) continue;
        const w = this.openWindow(view, next);
        this.incr(w.key, FIELDS.open, 1);
        if (!w.indexed) {
          this.index(KEYS.windows(view), String(next), next + size);
          w.indexed = true;
        }
      } else {
        i++;
        if (prev + size > this.ctx.evictBefore) this.incr(this.openWindow(view, prev).key, FIELDS.open, -1);
      }
    }
  }

  /** The same few windows come up for the thousands of keys a batch touches: their keys are made once. */
  private openWindow(view: string, start: number): { key: string; indexed: boolean } {
    const byStart = inner(this.openWindows, view);
    let w = byStart.get(start);
    if (!w) byStart.set(start, (w = { key: KEYS.window(view, start), indexed: false }));
    return w;
  }

  private late(v: CompiledView, offset: number, e: Event, watermark: number): void {
    const policy = v.def.latePolicy;
    let byPolicy = this.lateCounts.get(v.def.name);
    if (!byPolicy) this.lateCounts.set(v.def.name, (byPolicy = new Map()));
    byPolicy.set(policy, (byPolicy.get(policy) ?? 0) + 1);
    this.incr(KEYS.late(v.def.name), policy, 1);
    if (policy === 'side-output') this.lateEvents.push({ view: v.def.name, partition: this.partition, offset, watermark, event: e });
  }

  private incr(key: string, field: string, by: ExactInt): void {
    const fields = inner(this.increments, key);
    fields.set(field, addExact(fields.get(field) ?? 0, by));
  }

  private extreme(key: string, field: string, op: 'hmin' | 'hmax', value: number): void {
    const fields = inner(this.extremes, key);
    const cur = fields.get(field);
    if (!cur || (op === 'hmin' ? value < cur.value : value > cur.value)) fields.set(field, { op, value });
  }

  private set(key: string, field: string, value: string): void {
    inner(this.sets, key).set(field, value);
  }

  private index(key: string, member: string, score: number): void {
    inner(this.indexAdds, key).set(member, score);
  }
}

/** When a session stops mattering: its end, or for an open_sessions member the end of the last window it overlaps. */
function retainedUntil(g: SessionGroup, s: Session): number {
  return s.last + g.gapMs + g.retainMs;
}

/** How many elements the inner maps hold together. */
function entries(m: Map<string, Map<string, unknown>>): number {
  let n = 0;
  m.forEach((inner) => (n += inner.size));
  return n;
}

/** The map under `key`, made empty on first use (no closure per call: this runs per event and view). */
function inner<K, K2, V>(m: Map<K, Map<K2, V>>, key: K): Map<K2, V> {
  let value = m.get(key);
  if (value === undefined) m.set(key, (value = new Map()));
  return value;
}
