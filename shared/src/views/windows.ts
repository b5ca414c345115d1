/**
 * Window assignment, shared by both layers so they cannot disagree on which window an event is in.
 *
 * - Windows are half-open `[start, end)` in epoch milliseconds, aligned to the Unix epoch.
 * - Tumbling windows of size S are sliding windows with slide S.
 * - A sliding window of size S and slide L holds t in every window with `start = k*L` (k an
 *   integer) and `start <= t < start + S`; L divides S, so t is in exactly S/L windows. The slide
 *   interval `[k*L, (k+1)*L)` holding t is its pane; panes are what a window is assembled from.
 * - Sessions per key, in event-time order: a gap strictly greater than G starts a new session
 *   (a gap of exactly G does not); a session spans `[first, last + G)`.
 */

import type { ViewDefinition } from './definition.ts';

export interface TumblingWindow {
  kind: 'tumbling';
  sizeMs: number;
}
export interface SlidingWindow {
  kind: 'sliding';
  sizeMs: number;
  slideMs: number;
}
export interface SessionWindow {
  kind: 'session';
  gapMs: number;
}
export type WindowSpec = TumblingWindow | SlidingWindow | SessionWindow;
export type FixedWindow = TumblingWindow | SlidingWindow;

export interface Bounds {
  start: number;
  end: number;
}

/** A range of windows, for queries and backfills: bounds left out are unbounded. */
export interface TimeRange {
  from?: number;
  to?: number;
}

export function slideOf(w: FixedWindow): number {
  return w.kind === 'tumbling' ? w.sizeMs : w.slideMs;
}

/** Start of the pane (slide interval) holding t: floor division, correct for any sign. */
export function paneStart(t: number, slideMs: number): number {
  return Math.floor(t / slideMs) * slideMs;
}

/** Every window holding t, by ascending start. */
export function windowsFor(t: number, w: FixedWindow): Bounds[] {
  const slide = slideOf(w);
  const out: Bounds[] = [];
  for (let start = paneStart(t, slide) - w.sizeMs + slide; start <= t; start += slide) {
    out.push({ start, end: start + w.sizeMs });
  }
  return out;
}

/** Tumbling windows of `sizeMs` that overlap the half-open span `[start, end)`, ascending. */
export function windowsOverlapping(span: Bounds, sizeMs: number): Bounds[] {
  const out: Bounds[] = [];
  forEachWindowOverlapping(span, sizeMs, (start) => out.push({ start, end: start + sizeMs }));
  return out;
}

/** The same windows' starts, ascending, one call each: for callers that keep no object per window. */
export function forEachWindowOverlapping(span: Bounds, sizeMs: number, visit: (start: number) => void): void {
  for (let start = paneStart(span.start, sizeMs); start < span.end; start += sizeMs) visit(start);
}

/** Whether an event at t after one at `previous` (same key, previous <= t) opens a new session. */
export function startsNewSession(previous: number, t: number, gapMs: number): boolean {
  return t - previous > gapMs;
}

export function sessionBounds(first: number, last: number, gapMs: number): Bounds {
  return { start: first, end: last + gapMs };
}

/** A window belongs to a range when it lies entirely inside it: `from <= start` and `end <= to`. */
export function withinRange(b: Bounds, range: TimeRange): boolean {
  return (range.from === undefined || b.start >= range.from) && (range.to === undefined || b.end <= range.to);
}

/**
 * The half-open event-time range whose events determine exactly the windows within `range`.
 * A fixed window inside the range only holds events inside it. A session inside the range is only
 * known to start at its first event if no event lies up to G before it, and only known to end at
 * its last if none lies up to G after it (`last + G <= to`, so up to `to` inclusive): G before,
 * one millisecond after. The same margin suffices for windows overlapped by sessions: dropping
 * events further out only trims whole sessions or the parts of them outside the range.
 */
export function inputRange(w: WindowSpec, range: TimeRange): TimeRange {
  if (w.kind !== 'session') return { ...range };
  return {
    ...(range.from !== undefined && { from: range.from - w.gapMs }),
    ...(range.to !== undefined && { to: range.to + 1 }),
  };
}

/**
 * Session views with the same input, key and gap have the same sessions (`active_users` and
 * `sessions` do): this names that sameness, null for other windows. The batch layer sessionizes
 * once per spec; the speed layer keeps one session state per spec and lateness (see its README).
 */
export function sessionSpecOf(view: ViewDefinition): string | null {
  if (view.window.kind !== 'session') return null;
  return JSON.stringify([[...view.input.types].sort(), view.input.filter, view.key, view.window.gapMs]);
}
