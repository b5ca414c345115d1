/**
 * Key names inside one partition's keyspace (the store prefixes them with `<prefix>{p<N>}:`).
 * See README.md for the layout.
 */

/** Separates the parts of a hash field; view and aggregate names are identifiers without it. */
export const SEP = '\x1f';

export const KEYS = {
  /** Hash: `max_time` (max event time seen in the partition), `updated_at` (wall clock of the last batch with records). */
  meta: 'meta',
  /**
   * Hash of the event_ids first seen in one generation of the partition's max event time
   * (`floor(max_time / horizon)`), for deduplication: per batch that added some, its first offset ->
   * its ids (seen-index.ts).
   */
  seen: (generation: number) => `seen-ids:${generation}`,
  /** Hash: late events of the view by policy (`drop`, `update`, `side-output`). */
  late: (view: string) => `v:${view}:late`,
  /** Hash per fixed (or open_sessions) window, by start. */
  window: (view: string, start: number) => `v:${view}:w:${start}`,
  /** Sorted set of the view's window starts, scored by window end: range reads and eviction. */
  windows: (view: string) => `v:${view}:idx`,
  /** Hash: the sessions per key of one session state (views that share their sessions, session-groups.ts), JSON. */
  sessions: (state: string) => `s:${state}`,
  /** Sorted set of a session state's keys, scored by when their newest session may be evicted. */
  sessionIndex: (state: string) => `s:${state}:idx`,
} as const;

/** Window hash fields. */
export const FIELDS = {
  /** Events counted in the row: a row exists when this is present. */
  rows: (key: string) => `#${SEP}${key}`,
  aggregate: (agg: string, key: string) => `a${SEP}${agg}${SEP}${key}`,
  distinct: (agg: string, key: string, value: string) => `d${SEP}${agg}${SEP}${JSON.stringify([key, value])}`,
  /** open_sessions: keys with a session overlapping the window. */
  open: 'n',
  /** Late events judged for this window, and whether one was applied (`update`). */
  late: `m${SEP}late`,
  revised: `m${SEP}revised`,
} as const;

export const META = { maxTime: 'max_time', updatedAt: 'updated_at' } as const;
