import { keyColumnOf, slideOf, viewColumns, type ViewDefinition, type ViewRow } from '@lambda/shared';
import type { Range } from './range.ts';

/**
 * The serving merge at the batch high-water mark (a Pinot-style time boundary): a window with
 * `end <= hwm` is served by the batch layer, every later one by the speed layer, and no window is
 * ever taken from both, so a late-arriving batch run cannot double a window the speed layer counted.
 */

export type Layer = 'merged' | 'batch' | 'speed';
export type Source = 'batch' | 'speed';
export type ServedRow = ViewRow & { source: Source };

/** The layer whose answer for a window is authoritative. */
export function ownerOf(windowEnd: number, highWaterMark: number | null): Source {
  return highWaterMark !== null && windowEnd <= highWaterMark ? 'batch' : 'speed';
}

export interface MergeInput {
  view: ViewDefinition;
  layer: Layer;
  range: Range;
  highWaterMark: number | null;
  batch: ViewRow[];
  speed: ViewRow[];
}

export function mergeRows({ view, layer, range, highWaterMark, batch, speed }: MergeInput): ServedRow[] {
  const serves = (source: Source, row: ViewRow) => layer === source || (layer === 'merged' && ownerOf(Number(row.window_end), highWaterMark) === source);
  const rows: ServedRow[] = [
    ...batch.filter((r) => serves('batch', r)).map((r) => ({ ...r, source: 'batch' as const })),
    ...speed.filter((r) => serves('speed', r)).map((r) => ({ ...r, source: 'speed' as const })),
  ];
  const grid = zeroFillGrid(view);
  if (grid) {
    const held = new Set(rows.map((r) => Number(r.window_start)));
    for (let start = Math.ceil(range.from / grid.slide) * grid.slide; start + grid.size <= range.to; start += grid.slide) {
      const owner = ownerOf(start + grid.size, highWaterMark);
      if (!held.has(start) && (layer === 'merged' || layer === owner)) rows.push({ ...emptyRow(view, start, start + grid.size), source: owner });
    }
  }
  return rows.sort(byWindowThenKey(keyColumnOf(view)));
}

/**
 * Views read as one time series (no key) answer every window of the range, an empty one as zeros:
 * a chart must not join the points either side of a quiet minute. Keyed views and sessions cannot
 * (the keys of an empty window are unknown). A layer only fills the windows it is authoritative for:
 * below the high-water mark the batch layer has seen everything, above it the speed layer has.
 */
function zeroFillGrid(view: ViewDefinition): { slide: number; size: number } | null {
  if (view.output.kind === 'open_sessions') return { slide: view.output.sizeMs, size: view.output.sizeMs };
  if (view.output.kind !== 'series' || view.key !== null || view.window.kind === 'session') return null;
  return { slide: slideOf(view.window), size: view.window.sizeMs };
}

/** A window with no events: counts and sums 0, ratios undefined (null), no alert. */
function emptyRow(view: ViewDefinition, start: number, end: number): ViewRow {
  const row: ViewRow = {};
  for (const c of viewColumns(view)) row[c.name] = c.type === 'BIGINT' ? 0n : c.type === 'BOOLEAN' ? false : null;
  row.window_start = BigInt(start);
  row.window_end = BigInt(end);
  return row;
}

function byWindowThenKey(key: string | null) {
  const text = (v: ViewRow[string] | undefined) => String(v ?? '');
  return (a: ViewRow, b: ViewRow) =>
    Number(a.window_start) - Number(b.window_start) ||
    (key ? (text(a[key]) < text(b[key]) ? -1 : text(a[key]) > text(b[key]) ? 1 : 0) : 0) ||
    Number(a.window_end) - Number(b.window_end);
}
