/**
 * JSON has no bigint: integers go out as numbers while exact, as decimal strings beyond 2^53
 * (money sums can get there), so a client never reads a silently rounded value.
 */
export function jsonValue(v: unknown): unknown {
  return typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v;
}

// A plain loop: every served row goes through here.
export function jsonRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in row) out[k] = jsonValue(row[k]);
  return out;
}

const converted = new WeakMap<Record<string, unknown>[], Record<string, unknown>[]>();

/** `rows.map(jsonRow)`, converted once per array: answers hand back the same array while unchanged. */
export function jsonRows(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  let out = converted.get(rows);
  if (!out) converted.set(rows, (out = rows.map(jsonRow)));
  return out;
}
