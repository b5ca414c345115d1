import { forEachWindowOverlapping, sessionBounds, startsNewSession, type Aggregate } from '@lambda/shared';
import { decodePartial, emptyPartial, encodePartial, mergePartial, type CompiledAggregate, type Partial } from './compile.ts';

/**
 * Session state of one key: its sessions, disjoint and ordered by first event time, each with its
 * aggregates' partials. Adding an event joins every session it reaches within the gap (so an
 * out-of-order event can extend a session or merge two), following windows.ts: a gap strictly
 * greater than G separates sessions.
 */

export interface Session {
  first: number;
  last: number;
  aggs: Partial[];
  /** Changed by a late event (the `update` policy). */
  revised: boolean;
}

/** Where an event at t lands in a key's sessions: the run `[from, to)` it reaches, and the bounds after merging. */
export interface SessionSpan {
  from: number;
  to: number;
  first: number;
  last: number;
}

/**
 * The sessions an event at t reaches, without changing the list. Sessions are disjoint and ordered,
 * so those within the gap of t are one contiguous run (empty when t starts a new session).
 */
export function sessionSpan(list: Session[], t: number, gapMs: number): SessionSpan {
  let from = 0;
  while (from < list.length && startsNewSession(list[from]!.last, t, gapMs)) from++;
  let to = from;
  let first = t;
  let last = t;
  while (to < list.length && !startsNewSession(t, list[to]!.first, gapMs)) {
    first = Math.min(first, list[to]!.first);
    last = Math.max(last, list[to]!.last);
    to++;
  }
  return { from, to, first, last };
}

/**
 * Adds the event to the list in place: the sessions of its span and the event become one session
 * (a late event under `update` marks it revised). The caller owns the list and its sessions: the
 * processor's are decoded anew for each batch. `contribution` (one partial per
 * aggregate, from its start) is only read: a session it starts takes a copy.
 */
export function addToSessions(list: Session[], span: SessionSpan, contribution: readonly Partial[], aggregates: Aggregate[], revised: boolean): void {
  if (span.from === span.to) {
    list.splice(span.from, 0, { first: span.first, last: span.last, aggs: contribution.slice(0, aggregates.length), revised });
    return;
  }
  const target = list[span.from]!;
  for (let j = span.from + 1; j < span.to; j++) {
    const s = list[j]!;
    for (let i = 0; i < aggregates.length; i++) target.aggs[i] = mergePartial(aggregates[i]!, target.aggs[i]!, s.aggs[i]!);
    target.revised ||= s.revised;
  }
  for (let i = 0; i < aggregates.length; i++) target.aggs[i] = mergePartial(aggregates[i]!, contribution[i]!, target.aggs[i]!);
  target.first = span.first;
  target.last = span.last;
  target.revised ||= revised;
  // Most events extend one session and merge none: a splice of nothing still makes an array.
  if (span.to - span.from > 1) list.splice(span.from + 1, span.to - span.from - 1);
}

/**
 * Merges per-partition session lists of one key into its global sessions: sorted by first event,
 * a session joins the running one unless a gap greater than G lies between them. Exact, because
 * each partial session is a chain of events without such a gap.
 */
export function mergeSessionLists(lists: Session[][], aggregates: Aggregate[], gapMs: number): Session[] {
  const all = lists.flat().sort((a, b) => a.first - b.first);
  const out: Session[] = [];
  for (const s of all) {
    const cur = out.at(-1);
    if (cur && !startsNewSession(cur.last, s.first, gapMs)) {
      out[out.length - 1] = {
        first: cur.first,
        last: Math.max(cur.last, s.last),
        aggs: cur.aggs.map((p, i) => mergePartial(aggregates[i]!, p, s.aggs[i]!)),
        revised: cur.revised || s.revised,
      };
    } else {
      out.push(s);
    }
  }
  return out;
}

/**
 * Window starts, ascending, each once, in a buffer that is refilled rather than made anew: a batch
 * walks the windows of every key it touches, twice, and an array made per walk (grown a push at a
 * time) was 8% of the processing thread's allocations.
 */
export class WindowStarts {
  private starts = new Float64Array(64);
  private count = 0;

  get length(): number {
    return this.count;
  }

  clear(): void {
    this.count = 0;
  }

  /** Adds a start after the last one; a start not past it (a window two sessions share) is there already. */
  readonly add = (start: number): void => {
    if (this.count > 0 && start <= this.starts[this.count - 1]!) return;
    if (this.count === this.starts.length) {
      const grown = new Float64Array(2 * this.count);
      grown.set(this.starts);
      this.starts = grown;
    }
    this.starts[this.count++] = start;
  };

  at(i: number): number {
    return this.starts[i]!;
  }
}

/** Starts of the tumbling windows of `sizeMs` that some session `[first, last + G)` overlaps, ascending, each once, into `out`. */
export function coveredWindows(list: readonly Session[], gapMs: number, sizeMs: number, out = new WindowStarts()): WindowStarts {
  out.clear();
  // The sessions are ordered and disjoint: a session's windows start no earlier than the last
  // window of the one before, which they can share.
  for (const s of list) forEachWindowOverlapping(sessionBounds(s.first, s.last, gapMs), sizeMs, out.add);
  return out;
}

/** As `coveredWindows`, for sessions given by their bounds alone: first and last of each, in `bounds` from `from` to `to`. */
export function coveredWindowsOfBounds(bounds: readonly number[], from: number, to: number, gapMs: number, sizeMs: number, out: WindowStarts): WindowStarts {
  out.clear();
  for (let i = from; i < to; i += 2) forEachWindowOverlapping(sessionBounds(bounds[i]!, bounds[i + 1]!, gapMs), sizeMs, out.add);
  return out;
}

/** A session's partials travel keyed by aggregate signature (see session-groups.ts). */
export function encodeSessions(list: Session[], aggregates: CompiledAggregate[]): string {
  return JSON.stringify(
    list.map((s) => {
      const a: Record<string, unknown> = {};
      for (let i = 0; i < aggregates.length; i++) a[aggregates[i]!.signature] = encodePartial(aggregates[i]!.def, s.aggs[i]!);
      return s.revised ? { f: s.first, l: s.last, a, r: 1 } : { f: s.first, l: s.last, a };
    }),
  );
}

/** The sessions with the partials of `aggregates`: a signature the state does not hold is empty. */
export function decodeSessions(text: string | null, aggregates: CompiledAggregate[]): Session[] {
  if (!text) return [];
  return (JSON.parse(text) as { f: number; l: number; a: Record<string, unknown>; r?: 1 }[]).map((s) => ({
    first: s.f,
    last: s.l,
    aggs: aggregates.map((a) => {
      const raw = s.a[a.signature];
      return raw === undefined ? emptyPartial(a.def) : decodePartial(a.def, raw);
    }),
    revised: s.r === 1,
  }));
}
