import {
  COLUMN_KINDS,
  inputRange,
  sessionSpecOf,
  slideOf,
  type Aggregate,
  type FixedWindow,
  type SessionWindow,
  type TimeRange,
  type ViewColumn,
  type ViewDefinition,
} from '@lambda/shared/views/index';
import { comparison, ident, literal, timestampLiteral, where } from './sql.ts';

export interface CompileOptions extends TimeRange {
  /** A relation (table, view, or table function call) with the archive's columns. */
  source: string;
  /**
   * `source` is `runEventsSql`'s result (ideally materialised once per run for all the views it
   * was built for): deduplicated already, times as epoch ms. The view then only filters it.
   */
  deduplicated?: boolean;
  /**
   * Session views: a relation holding `sessionEventsSql`'s result for the views sharing this one's
   * sessions (`sessionSpecOf`), over `source` and the same range. The view then only groups it.
   */
  sessionEvents?: string;
}

/**
 * Compiles a view definition to one DuckDB query over `source`. Rows: window_start and window_end
 * (epoch ms BIGINT), the key column if any, then the view's columns in definition order (BIGINT
 * counts and sums, DOUBLE ratios computed last from those integers, BOOLEAN alert); ordered by
 * window_start, then key. With `from`/`to`, only windows lying entirely inside `[from, to)` are
 * produced, computed exactly from the events `inputRange` says they depend on.
 *
 * Duplicates are removed first (unless `deduplicated`): the first occurrence of an event_id in
 * log order (log_partition, log_offset) is kept.
 */
export function compileView(view: ViewDefinition, options: CompileOptions): string {
  if (view.timeDomain !== 'event') {
    throw new Error(`view "${view.name}" uses processing time; the batch layer recomputes event-time views only`);
  }
  const range: TimeRange = { from: options.from, to: options.to };
  const key = view.key ? ident(view.key) : null;
  const ctes: string[] = [];
  if (view.window.kind === 'session' && options.sessionEvents) {
    ctes.push(`numbered AS (SELECT * FROM ${options.sessionEvents})`);
  } else {
    ctes.push(`events AS (${viewEventsSql(view, options, range)})`);
    if (view.window.kind === 'session') ctes.push(...numberedCtes(key, view.window));
  }
  if (view.window.kind === 'session') {
    ctes.push(...sessionCtes(view, view.window, key));
  } else {
    ctes.push(...fixedWindowCtes(view, view.window, key));
  }
  ctes.push(`measured AS (SELECT *${view.derived.map((d) => `, ${ratio(d.numerator, d.denominator)} AS ${ident(d.name)}`).join('')} FROM windows)`);
  const alert = view.alert
    ? `, coalesce(${view.alert.when.map((c) => `(${comparison(ident(c.metric), c.op, c.value)})`).join(' AND ')}, false) AS alert`
    : '';
  const inRange = [
    range.from !== undefined ? `window_start >= ${range.from}` : null,
    range.to !== undefined ? `window_end <= ${range.to}` : null,
  ].filter((x) => x !== null);
  const orderKey = key && view.output.kind !== 'open_sessions' ? `, ${key}` : '';
  return `WITH ${ctes.join(',\n')}
SELECT *${alert} FROM measured${inRange.length ? ` WHERE ${inRange.join(' AND ')}` : ''}
ORDER BY window_start${orderKey}`;
}

/**
 * The events all of `views` read, deduplicated once per run instead of once per view: the columns
 * any of them reads plus `type`, times as epoch ms, rows of their event types within the union of
 * their input ranges for `range`; each view's own row filters stay in the view. Materialise it
 * (e.g. a temp table) and compile each of `views` with `{ source: <it>, deduplicated: true }` and
 * a `from`/`to` inside `range`.
 */
export function runEventsSql(views: readonly ViewDefinition[], source: string, range: TimeRange = {}): string {
  const columns = new Set<ViewColumn>(['type']);
  for (const view of views) for (const c of columnsRead(view)) columns.add(c);
  const types = [...new Set(views.flatMap((v) => v.input.types))];
  const inputs = views.map((v) => inputRange(v.window, range));
  const from = inputs.some((r) => r.from === undefined) ? undefined : Math.min(...inputs.map((r) => r.from!));
  const to = inputs.some((r) => r.to === undefined) ? undefined : Math.max(...inputs.map((r) => r.to!));
  return dedupedEventsSql(source, columns, types, { from, to }, 'TRUE');
}

/** The view's input events in the input range of `range`, filtered, deduplicated, times as epoch ms. */
function viewEventsSql(view: ViewDefinition, options: CompileOptions, range: TimeRange): string {
  const input = inputRange(view.window, range);
  return options.deduplicated
    ? `SELECT ${[...columnsRead(view)].map(ident).join(', ')} FROM ${options.source}
    WHERE ${typeIn(view.input.types)}${timeBounds(input, String)} AND ${where(view.input.filter)}`
    : dedupedEventsSql(options.source, columnsRead(view), view.input.types, input, where(view.input.filter));
}

/**
 * The input events of session views of one `sessionSpecOf`, each numbered with its key's
 * session: the two window passes of sessionization, done once for all of them. `options` as for
 * compileView (`source`, `deduplicated`, the range); materialise it and hand it to each view as
 * `sessionEvents`.
 */
export function sessionEventsSql(views: readonly ViewDefinition[], options: CompileOptions): string {
  const first = views[0]!;
  const spec = sessionSpecOf(first);
  if (spec === null || views.some((v) => sessionSpecOf(v) !== spec)) throw new Error('sessionEventsSql takes session views that share their sessions');
  // Every column any of them reads: the views differ only in their aggregates.
  const events = viewEventsSql({ ...first, aggregates: views.flatMap((v) => v.aggregates) }, options, { from: options.from, to: options.to });
  const key = first.key ? ident(first.key) : null;
  return `WITH events AS (${events}),\n${numberedCtes(key, first.window as SessionWindow).join(',\n')}\nSELECT * FROM numbered`;
}

/** What a view reads of an event: event_time, its key, and the columns its filters and aggregates name. */
function columnsRead(view: ViewDefinition): Set<ViewColumn> {
  const columns = new Set<ViewColumn>(['event_time']);
  if (view.key) columns.add(view.key);
  for (const c of view.input.filter) columns.add(c.column);
  for (const a of view.aggregates) {
    if (a.column) columns.add(a.column);
    for (const c of a.where ?? []) columns.add(c.column);
  }
  return columns;
}

/**
 * `columns` of the events in the archive-shaped `source` with one of `types` within `range` that
 * pass `rowFilter`, deduplicated, times as epoch ms. Duplicates are re-deliveries of one fact with
 * identical fields, so the row filters may run before the dedupe without changing the result, and
 * the dedupe only sorts the rows that are read.
 */
function dedupedEventsSql(source: string, columns: Set<ViewColumn>, types: readonly string[], range: TimeRange, rowFilter: string): string {
  const projection = [...columns].map((c) => (COLUMN_KINDS[c] === 'timestamp' ? `epoch_ms(${ident(c)}) AS ${ident(c)}` : ident(c)));
  // Time bounds on the source's own TIMESTAMPTZ column, so DuckDB can skip Parquet row groups.
  return `SELECT * EXCLUDE (event_id, log_partition, log_offset) FROM (
    SELECT ${projection.join(', ')}, event_id, log_partition, log_offset FROM ${source}
    WHERE ${typeIn(types)}${timeBounds(range, timestampLiteral)}
  ) WHERE ${rowFilter}
  QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY log_partition, log_offset) = 1`;
}

function typeIn(types: readonly string[]): string {
  return `type IN (${types.map(literal).join(', ')})`;
}

/** Conditions on event_time within `range`, written for the source's type of time by `instant`. */
function timeBounds(range: TimeRange, instant: (ms: number) => string): string {
  return [
    range.from !== undefined ? ` AND event_time >= ${instant(range.from)}` : '',
    range.to !== undefined ? ` AND event_time < ${instant(range.to)}` : '',
  ].join('');
}

/**
 * Tumbling and sliding windows from panes: events are first aggregated per (key, pane) of one
 * slide, then each pane is added to the S/L windows that contain it, merging the partial
 * aggregates. count_distinct columns stay in the pane grouping so distinct values survive the merge.
 */
function fixedWindowCtes(view: ViewDefinition, w: FixedWindow, key: string | null): string[] {
  const slide = slideOf(w);
  const keys = key ? [key] : [];
  const partials = view.aggregates.map((a) =>
    a.fn === 'count_distinct' ? `${filtered(a, ident(a.column!), 'CASE')} AS ${partial(a)}` : `${direct(a)} AS ${partial(a)}`,
  );
  const start = `(pane - o.i) * ${slide}`;
  const merged = view.aggregates.map((a) => `${merge(a)} AS ${ident(a.name)}`);
  return [
    `panes AS (SELECT ${[...keys, `event_time // ${slide} AS pane`, ...partials].join(', ')}
    FROM events GROUP BY ALL)`,
    `windows AS (SELECT ${[`${start} AS window_start`, `${start} + ${w.sizeMs} AS window_end`, ...keys, ...merged].join(', ')}
    FROM panes CROSS JOIN range(0, ${w.sizeMs / slide}) AS o(i) GROUP BY ALL)`,
  ];
}

/** `events` numbered with their key's session: a gap greater than G starts the next one. */
function numberedCtes(key: string | null, w: SessionWindow): string[] {
  const partitionBy = key ? `PARTITION BY ${key} ` : '';
  // RANGE frame: events at the same instant share one running sum whatever their tie order.
  return [
    `marked AS (SELECT *, CASE WHEN event_time - lag(event_time) OVER (${partitionBy}ORDER BY event_time) <= ${w.gapMs} THEN 0 ELSE 1 END AS starts FROM events)`,
    `numbered AS (SELECT *, sum(starts) OVER (${partitionBy}ORDER BY event_time RANGE UNBOUNDED PRECEDING) AS session FROM marked)`,
  ];
}

/** Sessions from `numbered` events, and the view's windows from them. */
function sessionCtes(view: ViewDefinition, w: SessionWindow, key: string | null): string[] {
  const keyCol = key ? `${key}, ` : '';
  const aggregates = view.aggregates.map((a) => `, ${direct(a)} AS ${ident(a.name)}`).join('');
  const ctes = [
    `sessions AS (SELECT min(event_time) AS window_start, max(event_time) + ${w.gapMs} AS window_end, ${keyCol}max(event_time) - min(event_time) AS duration_ms${aggregates}
    FROM numbered GROUP BY ${keyCol}session)`,
  ];
  if (view.output.kind !== 'open_sessions') return [...ctes, `windows AS (SELECT * FROM sessions)`];
  const size = view.output.sizeMs;
  return [
    ...ctes,
    `spread AS (SELECT ${keyCol}unnest(range((window_start // ${size}) * ${size}, window_end, ${size})) AS window_start FROM sessions)`,
    `windows AS (SELECT window_start, window_start + ${size} AS window_end, count(DISTINCT ${key})::BIGINT AS ${ident(view.output.column)}
    FROM spread GROUP BY window_start)`,
  ];
}

function partial(a: Aggregate): string {
  return ident(`_p_${a.name}`);
}

/** `expr` restricted to the aggregate's own `where`: as a FILTER clause, or a CASE for a plain column. */
function filtered(a: Aggregate, expr: string, form: 'FILTER' | 'CASE'): string {
  if (!a.where?.length) return expr;
  return form === 'FILTER' ? `${expr} FILTER (WHERE ${where(a.where)})` : `CASE WHEN ${where(a.where)} THEN ${expr} END`;
}

/** The aggregate computed over events in one step. */
function direct(a: Aggregate): string {
  const col = a.column ? ident(a.column) : '';
  switch (a.fn) {
    case 'count':
      return `${filtered(a, 'count(*)', 'FILTER')}::BIGINT`;
    case 'sum':
      return `coalesce(${filtered(a, `sum(${col})`, 'FILTER')}, 0)::BIGINT`;
    case 'min':
      return filtered(a, `min(${col})`, 'FILTER');
    case 'max':
      return filtered(a, `max(${col})`, 'FILTER');
    case 'count_distinct':
      return `${filtered(a, `count(DISTINCT ${col})`, 'FILTER')}::BIGINT`;
  }
}

/** The aggregate over a window, merged from its panes' partials. */
function merge(a: Aggregate): string {
  const p = partial(a);
  switch (a.fn) {
    case 'count':
    case 'sum':
      return `sum(${p})::BIGINT`;
    case 'min':
      return `min(${p})`;
    case 'max':
      return `max(${p})`;
    case 'count_distinct':
      return `count(DISTINCT ${p})::BIGINT`;
  }
}

function ratio(numerator: string, denominator: string): string {
  return `CASE WHEN ${ident(denominator)} = 0 THEN NULL ELSE ${ident(numerator)}::DOUBLE / ${ident(denominator)}::DOUBLE END`;
}
