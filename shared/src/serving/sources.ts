import type { ViewDefinition } from '../views/definition.ts';
import type { ViewRow } from '../views/rows.ts';
import type { TimeRange } from '../views/windows.ts';

/**
 * What the serving layer needs from the batch and speed layers, and no more. The serving layer
 * depends on these interfaces only; the composition root (the CLI) implements them with the real
 * readers, and tests with hand-made rows. Rows are shaped as both layers answer them (`ViewRow`:
 * window bounds in epoch ms, BIGINT columns as bigint).
 */

/** Windows lying inside `[from, to)`, of one key when `key` is set (keyed views only). */
export interface ViewQuery extends TimeRange {
  key?: string;
}

/** The batch version the serving layer reads; runId null before the first published run. */
export interface BatchVersionInfo {
  runId: string | null;
  /** Every window with end <= this is complete in the batch views; null when nothing is. */
  highWaterMark: number | null;
}

export interface BatchSourceAnswer extends BatchVersionInfo {
  rows: ViewRow[];
}

export interface BatchViewSource {
  current(): Promise<BatchVersionInfo>;
  /** Before the first run: no rows, runId and highWaterMark null (not an error). */
  read(view: ViewDefinition, query: ViewQuery): Promise<BatchSourceAnswer>;
}

export interface SpeedSourceAnswer {
  rows: ViewRow[];
  /** The view's layer watermark; null before any event. */
  watermark: number | null;
  /** Late events of the view since the speed state began, by policy (`drop`, `update`, `side-output`). */
  lateEvents: Record<string, number>;
  /**
   * Late events judged per window of the query's range, by window_start (fixed windows only: the
   * speed layer counts lateness per session view, not per session). An event late for several
   * sliding windows counts in each.
   */
  lateByWindow: Map<number, number>;
  /** window_start of the windows a late event revised (`update` policy). */
  revised: number[];
}

export interface SpeedViewSource {
  /** The state store's back end, for `/health`. */
  readonly kind: string;
  watermark(view: ViewDefinition): Promise<number | null>;
  read(view: ViewDefinition, query: ViewQuery): Promise<SpeedSourceAnswer>;
  /**
   * Consumer lag: records in the events topic the speed layer has not processed yet, summed over
   * partitions (log end offsets minus the offsets committed in the state store). Absent, or null,
   * when this source cannot see the log.
   */
  lag?(): Promise<number | null>;
}

/**
 * Operator actions behind the admin token. A refusal the operator can act on (a run already in
 * progress, no version to roll back to) is an `AdminConflictError`; anything else is a failure.
 */
export interface AdminActions {
  runBatch(): Promise<Record<string, unknown>>;
  /** To the given kept run id, else to the version run before the current one. */
  rollback(runId?: string): Promise<Record<string, unknown>>;
}

export class AdminConflictError extends Error {}
