import { matchesFilter, type Aggregate, type Event, type Row, type ViewDefinition } from '@lambda/shared';
import { sessionStateOf } from './session-groups.ts';

/**
 * A view definition compiled to what the speed layer needs per event: does it belong to the view,
 * under which key, and what does it add to each aggregate. Every aggregate's partial is mergeable:
 * counts and sums add (exact integers), min and max combine, distinct values form a set.
 */

/**
 * A count or a sum, exact: a number while it is a safe integer, a bigint beyond. Counts and sums
 * are added per event and aggregate, and each bigint add allocated its result.
 */
export type ExactInt = number | bigint;

export type Partial = ExactInt | null | Set<string>;

/** `x + y`, exactly, for counts and sums. */
export function addExact(x: ExactInt, y: ExactInt): ExactInt {
  if (typeof x === 'number' && typeof y === 'number') {
    const sum = x + y;
    // Of two safe integers, the sum rounds to a safe integer only where it is one, and then exactly.
    if (Number.isSafeInteger(sum)) return sum;
  }
  return BigInt(x) + BigInt(y);
}

/** An exact integer from its decimal text (as the store and the session state hold it). */
function exactOf(text: string): ExactInt {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

export interface CompiledAggregate {
  def: Aggregate;
  /**
   * What the aggregate computes, whatever its name: views that share their sessions keep one
   * partial per signature in them (`session-groups.ts`).
   */
  signature: string;
  /** The event's contribution, or undefined when the aggregate's `where` excludes it. */
  contribution(e: Event): Partial | undefined;
}

export interface CompiledView {
  def: ViewDefinition;
  /** The log's key is user_id, so a user's events share a partition: per-partition state is complete per user. */
  keyedByPartitionKey: boolean;
  /** A session view's shared session state (`session-groups.ts`); null for fixed windows. */
  sessionState: string | null;
  accepts(e: Event): boolean;
  keyOf(e: Event): string;
  aggregates: CompiledAggregate[];
}

export function compileView(def: ViewDefinition): CompiledView {
  const types = new Set<string>(def.input.types);
  const key = def.key;
  return {
    def,
    keyedByPartitionKey: key === 'user_id',
    sessionState: sessionStateOf(def),
    accepts: (e) => types.has(e.type) && matchesFilter(def.input.filter, asRow(e)),
    // A key column is a string the definition guarantees present (validated with a not_null filter).
    keyOf: key ? (e) => String(asRow(e)[key]) : () => '',
    aggregates: def.aggregates.map((a) => ({ def: a, signature: signatureOf(a), contribution: contributionOf(a) })),
  };
}

function asRow(e: Event): Row {
  return e as unknown as Row;
}

function signatureOf(a: Aggregate): string {
  return `${a.fn}(${a.column ?? ''})${a.where?.length ? JSON.stringify(a.where) : ''}`;
}

function contributionOf(a: Aggregate): (e: Event) => Partial | undefined {
  const where = a.where?.length ? a.where : null;
  const column = a.column;
  const value = (e: Event) => (column ? (asRow(e)[column] ?? null) : null);
  return (e) => {
    if (where && !matchesFilter(where, asRow(e))) return undefined;
    const v = value(e);
    switch (a.fn) {
      case 'count':
        return 1;
      case 'sum':
        return v === null ? undefined : Number.isSafeInteger(v) ? (v as number) : BigInt(v);
      case 'min':
      case 'max':
        return v === null ? undefined : (v as number);
      case 'count_distinct':
        return v === null ? undefined : new Set([JSON.stringify(v)]);
    }
  };
}

/** The empty partial of an aggregate: what a window holds before any event counts. */
export function emptyPartial(a: Aggregate): Partial {
  switch (a.fn) {
    case 'count':
    case 'sum':
      return 0;
    case 'min':
    case 'max':
      return null;
    case 'count_distinct':
      return new Set();
  }
}

export function mergePartial(a: Aggregate, x: Partial, y: Partial): Partial {
  switch (a.fn) {
    case 'count':
    case 'sum':
      return addExact(x as ExactInt, y as ExactInt);
    case 'min':
    case 'max': {
      if (x === null) return y;
      if (y === null) return x;
      return a.fn === 'min' ? Math.min(x as number, y as number) : Math.max(x as number, y as number);
    }
    case 'count_distinct':
      return new Set([...(x as Set<string>), ...(y as Set<string>)]);
  }
}

/** The output value of an aggregate, typed as the batch layer's rows (BIGINT as bigint). */
export function finalValue(a: Aggregate, p: Partial): bigint | null {
  switch (a.fn) {
    case 'count':
    case 'sum':
      return BigInt(p as ExactInt);
    case 'min':
    case 'max':
      return p === null ? null : BigInt(p as number);
    case 'count_distinct':
      return BigInt((p as Set<string>).size);
  }
}

/** JSON-safe form of a partial (counts and sums as decimal text, sets as sorted arrays), and back. */
export function encodePartial(a: Aggregate, p: Partial): unknown {
  if (a.fn === 'count_distinct') return [...(p as Set<string>)].sort();
  return a.fn === 'count' || a.fn === 'sum' ? String(p) : p;
}

export function decodePartial(a: Aggregate, raw: unknown): Partial {
  switch (a.fn) {
    case 'count':
    case 'sum':
      return exactOf(String(raw));
    case 'min':
    case 'max':
      return raw as number | null;
    case 'count_distinct':
      return new Set(raw as string[]);
  }
}
