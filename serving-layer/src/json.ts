/**
 * JSON has no bigint: integers go out as numbers while exact, as decimal strings beyond 2^53
 * (money sums can get there), so a client never reads a silently rounded value.
 */
export function jsonValue(v: unknown): unknown {
  return typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v;
}

export function jsonRow(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, jsonValue(v)]));
}
