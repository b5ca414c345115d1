import { z } from 'zod';
import { VIEW_COLUMNS, type ViewColumn } from './columns.ts';

/**
 * A small declarative filter over event columns: a list of conditions that must all hold. Values
 * follow SQL: every comparison with a missing (null) value is false, so only `is_null` and
 * `not_null` can select on absence. Timestamps compare as epoch milliseconds.
 */

const column = z.enum(VIEW_COLUMNS);
const scalar = z.union([z.string(), z.number().int()]);

export const conditionSchema = z.discriminatedUnion('op', [
  z.strictObject({ column, op: z.enum(['is_null', 'not_null']) }),
  z.strictObject({ column, op: z.enum(['eq', 'ne']), value: scalar }),
  z.strictObject({ column, op: z.enum(['in', 'not_in']), values: z.array(scalar).min(1) }),
  z.strictObject({ column, op: z.enum(['gt', 'gte', 'lt', 'lte']), value: z.number().int() }),
]);
export type Condition = z.output<typeof conditionSchema>;

export const filterSchema = z.array(conditionSchema);
export type Filter = Condition[];

export type Row = Partial<Record<ViewColumn, string | number | null>>;

export function matchesCondition(c: Condition, row: Row): boolean {
  const v = row[c.column] ?? null;
  if (c.op === 'is_null') return v === null;
  if (c.op === 'not_null') return v !== null;
  if (v === null) return false;
  switch (c.op) {
    case 'eq':
      return v === c.value;
    case 'ne':
      return v !== c.value;
    case 'in':
      return c.values.includes(v);
    case 'not_in':
      return !c.values.includes(v);
    // Validation admits order comparisons on numeric columns only.
    case 'gt':
      return (v as number) > c.value;
    case 'gte':
      return (v as number) >= c.value;
    case 'lt':
      return (v as number) < c.value;
    case 'lte':
      return (v as number) <= c.value;
  }
}

export function matchesFilter(filter: Filter, row: Row): boolean {
  // A loop, not every(): the speed layer asks per event and view, and the callback was an allocation each time.
  for (let i = 0; i < filter.length; i++) if (!matchesCondition(filter[i]!, row)) return false;
  return true;
}
