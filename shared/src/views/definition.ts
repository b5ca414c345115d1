import { z } from 'zod';
import { EVENT_TYPES, type EventType } from '../events/schema.ts';
import { COLUMN_KINDS, VIEW_COLUMNS, fieldPresence, type ViewColumn } from './columns.ts';
import { filterSchema, type Filter } from './filter.ts';
import { keyColumnOf } from './rows.ts';

/**
 * A view, declared once as data. The batch layer compiles it to SQL and the speed layer to
 * incremental accumulators; nothing about a view is written anywhere else. Semantics of windows
 * and sessions: see windows.ts. Every aggregate is a monoid (count, sum, min, max) or a set
 * (count_distinct), so partial results merge in any order; ratios are derived at the end from the
 * integer parts.
 */

const ident = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'expected a lower_snake_case name');
const positiveMs = z.number().int().positive().max(366 * 86_400_000);
const nonNegativeMs = z.number().int().nonnegative().max(366 * 86_400_000);

const windowSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('tumbling'), sizeMs: positiveMs }),
  z.strictObject({ kind: z.literal('sliding'), sizeMs: positiveMs, slideMs: positiveMs }),
  z.strictObject({ kind: z.literal('session'), gapMs: positiveMs }),
]);

const aggregateSchema = z.strictObject({
  name: ident,
  fn: z.enum(['count', 'sum', 'min', 'max', 'count_distinct']),
  /** Required by every function but count. */
  column: z.enum(VIEW_COLUMNS).optional(),
  /** Only events matching this count towards the aggregate (a SQL FILTER clause). */
  where: filterSchema.optional(),
});

const ratioSchema = z.strictObject({ name: ident, numerator: ident, denominator: ident });

const comparisonSchema = z.strictObject({ metric: ident, op: z.enum(['gt', 'gte', 'lt', 'lte']), value: z.number() });

const outputSchema = z.discriminatedUnion('kind', [
  /** One row per window (and key) with at least one input event. */
  z.strictObject({ kind: z.literal('series') }),
  /** One row per session: its span as window_start/window_end, duration_ms = last - first event time. */
  z.strictObject({ kind: z.literal('sessions') }),
  /**
   * One row per tumbling window of `sizeMs` that some session overlaps: `column` is the number of
   * distinct keys with a session `[first, last + G)` overlapping the window.
   */
  z.strictObject({ kind: z.literal('open_sessions'), sizeMs: positiveMs, column: ident }),
]);

const RESERVED = ['window_start', 'window_end', 'duration_ms', 'alert'];

const baseSchema = z.strictObject({
  name: ident,
  description: z.string().min(1),
  input: z.strictObject({
    types: z.array(z.enum(EVENT_TYPES)).min(1),
    filter: filterSchema.default([]),
  }),
  /** Grouping column, or null for one global series. */
  key: z.enum(VIEW_COLUMNS).nullable(),
  window: windowSchema,
  /** The batch layer recomputes event-time views only; processing time exists in the speed layer. */
  timeDomain: z.enum(['event', 'processing']),
  /** Watermark = max event time seen (per log partition) minus this. */
  watermarkLagMs: nonNegativeMs,
  /** A window closes when the watermark passes its end plus this grace; until then nothing is late. */
  allowedLatenessMs: nonNegativeMs,
  /** What happens to an event for a closed window: dropped, applied (window revised), or sent to `events.late`. */
  latePolicy: z.enum(['drop', 'update', 'side-output']),
  aggregates: z.array(aggregateSchema).default([]),
  derived: z.array(ratioSchema).default([]),
  /** The row's `alert` column: true when every comparison holds (a comparison with null is false). */
  alert: z.strictObject({ when: z.array(comparisonSchema).min(1) }).optional(),
  output: outputSchema,
});

export const viewDefinitionSchema = baseSchema.superRefine((v, ctx) => {
  const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const types = v.input.types;

  const checkColumn = (path: PropertyKey[], column: ViewColumn) => {
    if (types.every((t) => fieldPresence(t, column) === 'absent')) {
      issue(path, `"${column}" is not a field of ${types.join(', ')}`);
    }
  };
  const checkFilter = (path: PropertyKey[], filter: Filter) =>
    filter.forEach((c, i) => {
      checkColumn([...path, i, 'column'], c.column);
      const kind = COLUMN_KINDS[c.column];
      const values = c.op === 'in' || c.op === 'not_in' ? c.values : c.op === 'eq' || c.op === 'ne' ? [c.value] : [];
      if (values.some((x) => typeof x !== (kind === 'string' ? 'string' : 'number'))) {
        issue([...path, i], `"${c.column}" is a ${kind} column; compare it with ${kind === 'string' ? 'strings' : 'integers'}`);
      }
      if (['gt', 'gte', 'lt', 'lte'].includes(c.op) && kind === 'string') {
        issue([...path, i, 'op'], `"${c.op}" needs a numeric column; "${c.column}" is a string`);
      }
    });

  checkFilter(['input', 'filter'], v.input.filter);

  if (v.window.kind === 'sliding' && v.window.sizeMs % v.window.slideMs !== 0) {
    issue(['window', 'slideMs'], `slide ${v.window.slideMs} ms does not divide size ${v.window.sizeMs} ms`);
  }

  if (v.key) {
    checkColumn(['key'], v.key);
    if (COLUMN_KINDS[v.key] !== 'string') issue(['key'], `key "${v.key}" is a ${COLUMN_KINDS[v.key]}; a key must be a string column`);
    const notNull = v.input.filter.some((c) => c.column === v.key && c.op !== 'is_null');
    const mayLack = types.filter((t) => fieldPresence(t, v.key!) !== 'required');
    if (mayLack.length > 0 && !notNull) {
      issue(['key'], `key "${v.key}" may be missing on ${mayLack.join(', ')}; add {"column":"${v.key}","op":"not_null"} to input.filter`);
    }
  }

  const sessionWindow = v.window.kind === 'session';
  if (sessionWindow !== (v.output.kind !== 'series')) {
    issue(['output', 'kind'], `output "${v.output.kind}" does not fit a ${v.window.kind} window`);
  }
  if (v.output.kind === 'open_sessions') {
    if (!v.key) issue(['key'], 'open_sessions counts distinct keys; a key is required');
    if (v.aggregates.length + v.derived.length > 0) issue(['aggregates'], 'open_sessions has no aggregates; it counts keys');
  }
  if (v.output.kind === 'series' && v.aggregates.length === 0) issue(['aggregates'], 'a series needs at least one aggregate');

  v.aggregates.forEach((a, i) => {
    const path = ['aggregates', i];
    if (a.where) checkFilter([...path, 'where'], a.where);
    if (a.fn === 'count') {
      if (a.column) issue([...path, 'column'], 'count counts events; it takes no column (use count_distinct)');
      return;
    }
    if (!a.column) return issue([...path, 'column'], `${a.fn} needs a column`);
    checkColumn([...path, 'column'], a.column);
    const kind = COLUMN_KINDS[a.column];
    if (a.fn === 'sum' && kind !== 'integer') issue([...path, 'column'], `sum needs an integer column; "${a.column}" is a ${kind}`);
    if ((a.fn === 'min' || a.fn === 'max') && kind === 'string') {
      issue([...path, 'column'], `${a.fn} needs a numeric column; "${a.column}" is a string`);
    }
  });

  const names = [...v.aggregates.map((a) => a.name), ...v.derived.map((d) => d.name)];
  if (v.output.kind === 'open_sessions') names.push(v.output.column);
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i || RESERVED.includes(n) || n === v.key) issue(['aggregates'], `output column name "${n}" is used twice or reserved`);
  });

  const integerParts = new Set(v.aggregates.filter((a) => a.fn === 'count' || a.fn === 'sum' || a.fn === 'count_distinct').map((a) => a.name));
  v.derived.forEach((d, i) => {
    for (const part of ['numerator', 'denominator'] as const) {
      if (!integerParts.has(d[part])) issue(['derived', i, part], `"${d[part]}" is not a count or sum of this view`);
    }
  });
  v.alert?.when.forEach((c, i) => {
    if (!names.includes(c.metric)) issue(['alert', 'when', i, 'metric'], `unknown metric "${c.metric}"; expected one of ${names.join(', ')}`);
  });
});

export type ViewDefinition = z.output<typeof viewDefinitionSchema>;
export type ViewDefinitionInput = z.input<typeof viewDefinitionSchema>;
export type Aggregate = ViewDefinition['aggregates'][number];
export type Ratio = ViewDefinition['derived'][number];
export type AlertComparison = NonNullable<ViewDefinition['alert']>['when'][number];
export type ViewOutput = ViewDefinition['output'];
export type { EventType };

export class ViewDefinitionError extends Error {
  constructor(
    readonly view: string,
    readonly issues: string[],
  ) {
    super(`invalid view definition "${view}":\n  ${issues.join('\n  ')}`);
    this.name = 'ViewDefinitionError';
  }
}

/** Validates a definition (from code, JSON or YAML) and returns it with defaults filled in. */
export function parseView(raw: unknown): ViewDefinition {
  const r = viewDefinitionSchema.safeParse(raw);
  if (r.success) return r.data;
  const name = typeof (raw as { name?: unknown })?.name === 'string' ? (raw as { name: string }).name : '(unnamed)';
  throw new ViewDefinitionError(
    name,
    r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(definition)'}: ${i.message}`),
  );
}

export type ColumnType = 'BIGINT' | 'DOUBLE' | 'BOOLEAN' | 'VARCHAR';

/** The columns of a view's rows, in order, with their SQL types (integers are exact BIGINT). */
export function viewColumns(v: ViewDefinition): { name: string; type: ColumnType }[] {
  const cols: { name: string; type: ColumnType }[] = [
    { name: 'window_start', type: 'BIGINT' },
    { name: 'window_end', type: 'BIGINT' },
  ];
  const key = keyColumnOf(v);
  if (key) cols.push({ name: key, type: 'VARCHAR' });
  if (v.output.kind === 'sessions') cols.push({ name: 'duration_ms', type: 'BIGINT' });
  if (v.output.kind === 'open_sessions') cols.push({ name: v.output.column, type: 'BIGINT' });
  for (const a of v.aggregates) cols.push({ name: a.name, type: 'BIGINT' });
  for (const d of v.derived) cols.push({ name: d.name, type: 'DOUBLE' });
  if (v.alert) cols.push({ name: 'alert', type: 'BOOLEAN' });
  return cols;
}
