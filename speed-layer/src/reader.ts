import { withinRange, type Aggregate, type StateStore, type TimeRange, type ViewDefinition, type ViewRow } from '@lambda/shared';
import { compileView, decodePartial, emptyPartial, finalValue, mergePartial, type CompiledView, type Partial } from './compile.ts';
import { FIELDS, KEYS, SEP } from './keys.ts';
import { coveredWindows, decodeSessions, mergeSessionLists, WindowStarts, type Session } from './sessions.ts';

/**
 * Reads a view from the speed layer's store as rows shaped like the batch layer's (BIGINT columns
 * as bigint, ratios as number or null, `alert` boolean), merging the per-partition partials: counts
 * and sums add, min/max combine, distinct sets unite, sessions of one key merge across partitions.
 */

export type SpeedRow = ViewRow;

export interface ReadOptions extends TimeRange {
  /** Only rows of this key value (keyed views). */
  key?: string;
}

export interface SpeedRows {
  rows: SpeedRow[];
  /** window_start of the windows (or sessions) a late event revised under the `update` policy. */
  revised: number[];
  /**
   * Late events judged per fixed window of the range, by window_start (an event late for several
   * sliding windows counts in each); sessions are not counted per session.
   */
  lateByWindow: Map<number, number>;
}

// Readers run per request: compile each definition once.
const compiled = new WeakMap<ViewDefinition, CompiledView>();

function compiledView(view: ViewDefinition): CompiledView {
  let v = compiled.get(view);
  if (!v) compiled.set(view, (v = compileView(view)));
  return v;
}

export async function readSpeedView(store: StateStore, view: ViewDefinition, opts: ReadOptions = {}): Promise<SpeedRow[]> {
  return (await readSpeedViewDetailed(store, view, opts)).rows;
}

export async function readSpeedViewDetailed(store: StateStore, view: ViewDefinition, opts: ReadOptions = {}): Promise<SpeedRows> {
  const v = compiledView(view);
  const partitions = await store.partitions();
  if (view.window.kind !== 'session') return readFixed(store, v, partitions, opts);
  return readSessions(store, v, partitions, opts);
}

/** Late events per view and policy, summed over partitions. */
export async function readLateCounts(store: StateStore, view: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const p of await store.partitions()) {
    for (const [policy, n] of Object.entries(await store.hgetall(p, KEYS.late(view)))) out[policy] = (out[policy] ?? 0) + Number(n);
  }
  return out;
}

interface WindowAcc {
  start: number;
  end: number;
  revised: boolean;
  late: number;
  /** Per key: the aggregates' partials; a key is present once an event counted for it. */
  keys: Map<string, Partial[]>;
  open: bigint;
}

async function readFixed(store: StateStore, v: CompiledView, partitions: number[], opts: ReadOptions): Promise<SpeedRows> {
  const name = v.def.name;
  const aggs = v.aggregates.map((a) => a.def);
  const byName = new Map(aggs.map((a, i) => [a.name, i]));
  const windows = new Map<number, WindowAcc>();
  await Promise.all(
    partitions.map(async (p) => {
      // Scored by window end: a window inside the range ends by `to`.
      const index = await store.zrangeByScore(p, KEYS.windows(name), opts.from ?? -Infinity, opts.to ?? Infinity);
      const wanted = index.map((w) => ({ start: Number(w.member), end: w.score })).filter((b) => withinRange(b, opts));
      const hashes = await Promise.all(wanted.map((b) => store.hgetall(p, KEYS.window(name, b.start))));
      wanted.forEach((b, i) => {
        let acc = windows.get(b.start);
        if (!acc) windows.set(b.start, (acc = { ...b, revised: false, late: 0, keys: new Map(), open: 0n }));
        for (const [field, value] of Object.entries(hashes[i]!)) mergeField(acc, field, value, aggs, byName);
      });
    }),
  );
  const rows: SpeedRow[] = [];
  const revised: number[] = [];
  const lateByWindow = new Map<number, number>();
  for (const w of [...windows.values()].sort((a, b) => a.start - b.start)) {
    if (w.revised) revised.push(w.start);
    if (w.late > 0) lateByWindow.set(w.start, w.late);
    if (v.def.output.kind === 'open_sessions') {
      if (w.open > 0n) rows.push({ window_start: BigInt(w.start), window_end: BigInt(w.end), [v.def.output.column]: w.open });
      continue;
    }
    for (const key of [...w.keys.keys()].sort()) {
      if (opts.key !== undefined && key !== opts.key) continue;
      rows.push(seriesRow(v, { window_start: BigInt(w.start), window_end: BigInt(w.end) }, key, w.keys.get(key)!));
    }
  }
  return { rows, revised, lateByWindow };
}

function partialsOf(acc: WindowAcc, aggs: Aggregate[], key: string): Partial[] {
  let p = acc.keys.get(key);
  if (!p) acc.keys.set(key, (p = aggs.map(emptyPartial)));
  return p;
}

function mergeField(acc: WindowAcc, field: string, value: string, aggs: Aggregate[], byName: Map<string, number>): void {
  if (field === FIELDS.open) {
    acc.open += BigInt(value);
    return;
  }
  if (field === FIELDS.revised) {
    acc.revised = true;
    return;
  }
  if (field === FIELDS.late) {
    acc.late += Number(value);
    return;
  }
  const kind = field[0];
  if (kind === '#') {
    partialsOf(acc, aggs, field.slice(2));
    return;
  }
  if (kind !== 'a' && kind !== 'd') return;
  const rest = field.slice(2);
  const cut = rest.indexOf(SEP);
  const i = byName.get(rest.slice(0, cut))!;
  const a = aggs[i]!;
  if (kind === 'a') {
    const key = rest.slice(cut + 1);
    const p = partialsOf(acc, aggs, key);
    p[i] = mergePartial(a, p[i]!, a.fn === 'min' || a.fn === 'max' ? Number(value) : decodePartial(a, value));
  } else {
    const [key, member] = JSON.parse(rest.slice(cut + 1)) as [string, string];
    const p = partialsOf(acc, aggs, key);
    p[i] = mergePartial(a, p[i]!, new Set([member]));
  }
}

async function readSessions(store: StateStore, v: CompiledView, partitions: number[], opts: ReadOptions): Promise<SpeedRows> {
  const def = v.def;
  const gap = (def.window as { gapMs: number }).gapMs;
  const aggs = v.aggregates.map((a) => a.def);
  // open_sessions keyed by the log's key: the per-partition window counts are complete, just add.
  if (def.output.kind === 'open_sessions' && v.keyedByPartitionKey) return readFixed(store, v, partitions, opts);
  const state = KEYS.sessions(v.sessionState!);
  const perKey = new Map<string, Session[][]>();
  await Promise.all(
    partitions.map(async (p) => {
      const all = opts.key !== undefined ? { [opts.key]: (await store.hmget(p, state, [opts.key]))[0] ?? '' } : await store.hgetall(p, state);
      for (const [key, text] of Object.entries(all)) {
        if (!text) continue;
        const lists = perKey.get(key) ?? [];
        lists.push(decodeSessions(text, v.aggregates));
        perKey.set(key, lists);
      }
    }),
  );
  const merged = new Map([...perKey].map(([key, lists]) => [key, mergeSessionLists(lists, aggs, gap)]));
  if (def.output.kind === 'open_sessions') {
    const size = def.output.sizeMs;
    const counts = new Map<number, bigint>();
    const covered = new WindowStarts();
    for (const list of merged.values()) {
      coveredWindows(list, gap, size, covered);
      for (let i = 0; i < covered.length; i++) {
        const start = covered.at(i);
        counts.set(start, (counts.get(start) ?? 0n) + 1n);
      }
    }
    const rows = [...counts]
      .filter(([start]) => withinRange({ start, end: start + size }, opts))
      .sort((a, b) => a[0] - b[0])
      .map(([start, n]) => ({ window_start: BigInt(start), window_end: BigInt(start + size), [def.output.kind === 'open_sessions' ? def.output.column : '']: n }));
    return { rows, revised: [], lateByWindow: new Map() };
  }
  const rows: SpeedRow[] = [];
  const revised: number[] = [];
  for (const [key, list] of merged) {
    for (const s of list) {
      const bounds = { start: s.first, end: s.last + gap };
      if (!withinRange(bounds, opts)) continue;
      if (s.revised) revised.push(s.first);
      rows.push(seriesRow(v, { window_start: BigInt(bounds.start), window_end: BigInt(bounds.end) }, key, s.aggs, BigInt(s.last - s.first)));
    }
  }
  rows.sort((a, b) => Number(a.window_start) - Number(b.window_start) || String(a[def.key!]).localeCompare(String(b[def.key!])));
  return { rows, revised: revised.sort((a, b) => a - b), lateByWindow: new Map() };
}

function seriesRow(v: CompiledView, bounds: SpeedRow, key: string, partials: Partial[], durationMs?: bigint): SpeedRow {
  const def = v.def;
  const row: SpeedRow = { ...bounds };
  if (def.key) row[def.key] = key;
  if (durationMs !== undefined) row.duration_ms = durationMs;
  v.aggregates.forEach((a, i) => (row[a.def.name] = finalValue(a.def, partials[i]!)));
  for (const d of def.derived) {
    const den = row[d.denominator] as bigint;
    row[d.name] = den === 0n ? null : Number(row[d.numerator] as bigint) / Number(den);
  }
  if (def.alert) {
    row.alert = def.alert.when.every((c) => {
      const x = row[c.metric];
      if (x === null || x === undefined) return false;
      const n = x as number | bigint;
      return c.op === 'gt' ? n > c.value : c.op === 'gte' ? n >= c.value : c.op === 'lt' ? n < c.value : n <= c.value;
    });
  }
  return row;
}
