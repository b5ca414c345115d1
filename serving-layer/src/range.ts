import { slideOf, type TimeRange, type ViewDefinition } from '@lambda/shared';
import { HttpError } from './errors.ts';

/**
 * The event-time range of a read: `[from, to)` in epoch ms, from query parameters given as epoch
 * milliseconds or ISO-8601 times with a zone. Bounded, so that no request makes the server hold an
 * unbounded answer: by default the hour up to now (rounded up to the view's window grid, so the
 * window in progress is included), at most 7 days and at most MAX_WINDOWS windows of the grid.
 */

export const DEFAULT_SPAN_MS = 3_600_000;
export const MAX_SPAN_MS = 7 * 86_400_000;
export const MAX_WINDOWS = 10_080;
const MINUTE = 60_000;
// The range of a JavaScript Date: beyond it a time has no ISO form.
const MAX_TIME = 8.64e15;

export interface RangeParams {
  from?: string;
  to?: string;
}

export type Range = Required<TimeRange>;

/** Epoch ms, or an ISO-8601 time carrying its zone (the same rule as event_time and the CLI). */
export function parseTime(param: string, value: string): number {
  const t = /^-?\d+$/.test(value) ? Number(value) : /(Z|[+-]\d\d:?\d\d)$/i.test(value) ? Date.parse(value) : NaN;
  if (!Number.isSafeInteger(t) || Math.abs(t) > MAX_TIME) {
    throw new HttpError(
      400,
      `${param}: expected epoch milliseconds or an ISO-8601 time with a zone, e.g. 2024-05-01T12:00:00Z; got ${JSON.stringify(value.slice(0, 60))}`,
    );
  }
  return t;
}

/**
 * The spacing of a view's window starts: its slide, the output windows of open-session counts, and
 * a minute for sessions (which have no grid; the minute only rounds the default range).
 */
export function windowGrid(view: ViewDefinition): number {
  if (view.output.kind === 'open_sessions') return view.output.sizeMs;
  return view.window.kind === 'session' ? MINUTE : slideOf(view.window);
}

export function ceilTo(t: number, step: number): number {
  return Math.ceil(t / step) * step;
}

export function resolveRange(view: ViewDefinition, params: RangeParams, now: number, defaultSpanMs = DEFAULT_SPAN_MS): Range {
  const grid = windowGrid(view);
  const given = {
    from: params.from === undefined ? undefined : parseTime('from', params.from),
    to: params.to === undefined ? undefined : parseTime('to', params.to),
  };
  const to = given.to ?? ceilTo(now, grid);
  const from = given.from ?? to - defaultSpanMs;
  checkRange(grid, { from, to });
  return { from, to };
}

/** Rejects an empty, reversed or too long range, naming the parameter to change. */
export function checkRange(grid: number, { from, to }: Range): void {
  if (from >= to) throw new HttpError(400, `from: must be before to (from ${from}, to ${to}; to defaults to now)`);
  if (to - from > MAX_SPAN_MS) throw new HttpError(400, `from: the range [from, to) is longer than 7 days; narrow it`);
  if ((to - from) / grid > MAX_WINDOWS) {
    throw new HttpError(400, `from: the range [from, to) spans more than ${MAX_WINDOWS} windows of ${grid} ms; narrow it`);
  }
}
