import { sessionBounds, startsNewSession, windowsOverlapping, type Aggregate } from '@lambda/shared';
import { decodePartial, encodePartial, mergePartial, type Partial } from './compile.ts';

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

/** Whether an event at t joins s: no gap greater than G between t and the session's span. */
function reaches(s: Session, t: number, gapMs: number): boolean {
  return !startsNewSession(s.last, t, gapMs) && !startsNewSession(t, s.first, gapMs);
}

/** The session an event at t would belong to, after merging, without changing the list. */
export function sessionWith(list: Session[], t: number, contribution: Partial[], aggregates: Aggregate[], gapMs: number): { merged: Session; absorbed: Session[] } {
  const absorbed = list.filter((s) => reaches(s, t, gapMs));
  const merged = absorbed.reduce<Session>(
    (m, s) => ({
      first: Math.min(m.first, s.first),
      last: Math.max(m.last, s.last),
      aggs: m.aggs.map((p, i) => mergePartial(aggregates[i]!, p, s.aggs[i]!)),
      revised: m.revised || s.revised,
    }),
    { first: t, last: t, aggs: contribution, revised: false },
  );
  return { merged, absorbed };
}

export function replaceSessions(list: Session[], absorbed: Session[], merged: Session): Session[] {
  return [...list.filter((s) => !absorbed.includes(s)), merged].sort((a, b) => a.first - b.first);
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

/** Starts of the tumbling windows of `sizeMs` that some session `[first, last + G)` overlaps. */
export function coveredWindows(list: Session[], gapMs: number, sizeMs: number): Set<number> {
  const out = new Set<number>();
  for (const s of list) for (const w of windowsOverlapping(sessionBounds(s.first, s.last, gapMs), sizeMs)) out.add(w.start);
  return out;
}

export function encodeSessions(list: Session[], aggregates: Aggregate[]): string {
  return JSON.stringify(list.map((s) => ({ f: s.first, l: s.last, a: s.aggs.map((p, i) => encodePartial(aggregates[i]!, p)), ...(s.revised && { r: 1 }) })));
}

export function decodeSessions(text: string | null, aggregates: Aggregate[]): Session[] {
  if (!text) return [];
  return (JSON.parse(text) as { f: number; l: number; a: unknown[]; r?: 1 }[]).map((s) => ({
    first: s.f,
    last: s.l,
    aggs: s.a.map((p, i) => decodePartial(aggregates[i]!, p)),
    revised: s.r === 1,
  }));
}
