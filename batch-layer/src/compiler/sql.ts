import type { Condition, Filter } from '@lambda/shared/views/index';

/** SQL text for literals and filter conditions; views are data, so every value is quoted here. */

export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function literal(v: string | number): string {
  if (typeof v === 'string') return `'${v.replaceAll("'", "''")}'`;
  // Integers stay exact BIGINTs; other numbers become DOUBLE, never DuckDB's DECIMAL literal.
  return Number.isInteger(v) ? `(${v})::BIGINT` : `(${v})::DOUBLE`;
}

const ORDER_OPS = { gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

export function comparison(expr: string, op: keyof typeof ORDER_OPS, value: number): string {
  return `${expr} ${ORDER_OPS[op]} ${literal(value)}`;
}

/**
 * A condition over the `events` relation, where timestamps are already epoch ms. SQL's null
 * semantics are the filter language's: a comparison with null is not true.
 */
export function condition(c: Condition): string {
  const col = ident(c.column);
  switch (c.op) {
    case 'is_null':
      return `${col} IS NULL`;
    case 'not_null':
      return `${col} IS NOT NULL`;
    case 'eq':
      return `${col} = ${literal(c.value)}`;
    case 'ne':
      return `${col} <> ${literal(c.value)}`;
    case 'in':
      return `${col} IN (${c.values.map(literal).join(', ')})`;
    case 'not_in':
      return `${col} NOT IN (${c.values.map(literal).join(', ')})`;
    default:
      return comparison(col, c.op, c.value);
  }
}

export function where(filter: Filter): string {
  return filter.length === 0 ? 'TRUE' : filter.map((c) => `(${condition(c)})`).join(' AND ');
}

/** An epoch-ms instant as a TIMESTAMPTZ literal, so range filters reach the Parquet reader. */
export function timestampLiteral(ms: number): string {
  return `make_timestamptz(${BigInt(ms) * 1000n}::BIGINT)`;
}
