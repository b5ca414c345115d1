import { ARCHIVE_COLUMNS } from '../archive-layout.ts';
import { eventSchema, type EventType } from '../events/schema.ts';

/**
 * The event columns a view may name: the archive's columns minus its log bookkeeping. Their kinds
 * come from the archive types, so a view is checked against the contract both layers read.
 */
export type ColumnKind = 'string' | 'integer' | 'timestamp';

const BOOKKEEPING = new Set(['log_partition', 'log_offset']);

const KIND_OF_TYPE: Record<string, ColumnKind> = { VARCHAR: 'string', BIGINT: 'integer', TIMESTAMPTZ: 'timestamp' };

export const VIEW_COLUMNS = ARCHIVE_COLUMNS.filter(([name]) => !BOOKKEEPING.has(name)).map(([name]) => name) as [
  ViewColumn,
  ...ViewColumn[],
];
export type ViewColumn = Exclude<(typeof ARCHIVE_COLUMNS)[number][0], 'log_partition' | 'log_offset'>;

export const COLUMN_KINDS = Object.fromEntries(
  ARCHIVE_COLUMNS.filter(([name]) => !BOOKKEEPING.has(name)).map(([name, type]) => [name, KIND_OF_TYPE[type]!]),
) as Record<ViewColumn, ColumnKind>;

export type FieldPresence = 'required' | 'optional' | 'absent';

/** Whether events of a type always, sometimes or never carry a column (from the event schemas). */
export function fieldPresence(type: EventType, column: ViewColumn): FieldPresence {
  const option = eventSchema.options.find((o) => o.shape.type.value === type)!;
  const field = (option.shape as Record<string, { safeParse(v: unknown): { success: boolean } }>)[column];
  if (!field) return 'absent';
  return field.safeParse(undefined).success ? 'optional' : 'required';
}
