import { keyColumnOf, viewColumns, type ViewDefinition, type ViewRow } from '@lambda/shared';

/**
 * Lambda drift: where both layers hold a row (same window and key), do they agree? With complete
 * data and the `update` policy they must agree exactly (both compile from one definition), so any
 * difference is late data the speed layer dropped, events still on their way, or a bug.
 */

export interface Difference {
  window_start: number;
  window_end: number;
  key: string | null;
  column: string;
  batch: bigint | number;
  speed: bigint | number;
  absolute: number;
  relative: number;
}

export interface DriftReport {
  /** Distinct windows with a row in both layers, and those where some row differs. */
  windowsCompared: number;
  windowsDiffering: number;
  /** Rows (window and key) both layers hold, and those differing in any column. */
  rowsCompared: number;
  rowsDiffering: number;
  /** Rows of a window both layers hold that only one of them has (a key the other never saw). */
  onlyBatch: number;
  onlySpeed: number;
  /** Over the numeric aggregate columns: the largest |batch - speed| and |batch - speed| / max(|batch|, |speed|). */
  maxAbsoluteDiff: number;
  maxRelativeDiff: number;
  /** The difference with the largest relative size (ties: the largest absolute), null when none. */
  largest: Difference | null;
  /** window_start of each compared window, ascending. */
  windowStarts: number[];
}

export function compareRows(view: ViewDefinition, batch: ViewRow[], speed: ViewRow[]): DriftReport {
  const keyColumn = keyColumnOf(view);
  const columns = viewColumns(view).filter((c) => c.name !== 'window_start' && c.name !== 'window_end' && c.name !== keyColumn);
  const identity = (r: ViewRow) => JSON.stringify([String(r.window_start), String(r.window_end), keyColumn ? r[keyColumn] : null]);
  const speedRows = new Map(speed.map((r) => [identity(r), r]));
  const batchWindows = new Set(batch.map((r) => String(r.window_start)));
  const speedWindows = new Set(speed.map((r) => String(r.window_start)));
  const shared = (r: ViewRow) => batchWindows.has(String(r.window_start)) && speedWindows.has(String(r.window_start));

  const report: DriftReport = {
    windowsCompared: 0,
    windowsDiffering: 0,
    rowsCompared: 0,
    rowsDiffering: 0,
    onlyBatch: 0,
    onlySpeed: 0,
    maxAbsoluteDiff: 0,
    maxRelativeDiff: 0,
    largest: null,
    windowStarts: [],
  };
  const compared = new Set<number>();
  const differing = new Set<number>();
  const matched = new Set<string>();
  for (const b of batch) {
    const id = identity(b);
    const s = speedRows.get(id);
    if (!s) {
      if (shared(b)) report.onlyBatch++;
      continue;
    }
    matched.add(id);
    const start = Number(b.window_start);
    compared.add(start);
    report.rowsCompared++;
    let rowDiffers = false;
    for (const { name, type } of columns) {
      const x = b[name] ?? null;
      const y = s[name] ?? null;
      if (x === y) continue;
      rowDiffers = true;
      if ((type !== 'BIGINT' && type !== 'DOUBLE') || x === null || y === null) continue;
      const d = difference(x as bigint | number, y as bigint | number);
      const largest = report.largest;
      if (!largest || d.relative > largest.relative || (d.relative === largest.relative && d.absolute > largest.absolute)) {
        report.largest = { window_start: start, window_end: Number(b.window_end), key: keyColumn ? String(b[keyColumn]) : null, column: name, batch: x as bigint | number, speed: y as bigint | number, ...d };
      }
      report.maxAbsoluteDiff = Math.max(report.maxAbsoluteDiff, d.absolute);
      report.maxRelativeDiff = Math.max(report.maxRelativeDiff, d.relative);
    }
    if (rowDiffers) {
      report.rowsDiffering++;
      differing.add(start);
    }
  }
  report.onlySpeed = speed.filter((r) => !matched.has(identity(r)) && shared(r)).length;
  report.windowStarts = [...compared].sort((a, b) => a - b);
  report.windowsCompared = compared.size;
  report.windowsDiffering = differing.size;
  return report;
}

function difference(x: bigint | number, y: bigint | number): { absolute: number; relative: number } {
  // Integers subtract exactly as bigint before the result becomes a number.
  const absolute = typeof x === 'bigint' && typeof y === 'bigint' ? Number(x > y ? x - y : y - x) : Math.abs(Number(x) - Number(y));
  const scale = Math.max(Math.abs(Number(x)), Math.abs(Number(y)));
  return { absolute, relative: scale === 0 ? 0 : absolute / scale };
}

/** Late events the speed layer judged for the given windows (per window; see SpeedSourceAnswer). */
export function lateIn(lateByWindow: ReadonlyMap<number, number>, windowStarts: readonly number[]): number {
  return windowStarts.reduce((n, start) => n + (lateByWindow.get(start) ?? 0), 0);
}
