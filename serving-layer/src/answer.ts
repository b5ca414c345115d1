import { keyColumnOf, type ViewDefinition, type ViewRow } from '@lambda/shared';
import { HttpError, fromDependency } from './errors.ts';
import { readBatch, readSpeed, type Sources } from './layers.ts';
import { mergeRows, type Layer, type MergeInput, type ServedRow } from './merge.ts';
import type { Range } from './range.ts';

/** One view's answer over a range, from the layer asked for, with what a reader needs to judge it. */
export interface ViewAnswer {
  view: string;
  layer: Layer;
  from: number;
  to: number;
  batchRunId: string | null;
  highWaterMark: number | null;
  speedWatermark: number | null;
  /** The speed layer's late events: all seen for the view by policy, and those judged for windows in the range. */
  lateEvents: { total: Record<string, number>; inRange: number } | null;
  /** Windows in the range a late event revised in the speed layer. */
  revisedWindows: number[];
  rows: ServedRow[];
}

export function viewNamed(views: readonly ViewDefinition[], name: string): ViewDefinition {
  const view = views.find((v) => v.name === name);
  if (!view) throw new HttpError(404, `view "${name}" not found; known views: ${views.map((v) => v.name).join(', ')}`);
  return view;
}

export function checkKey(view: ViewDefinition, key: string | undefined): void {
  if (key !== undefined && !keyColumnOf(view)) throw new HttpError(400, `key: view "${view.name}" has no key column`);
}

export async function answerView(sources: Sources, view: ViewDefinition, layer: Layer, range: Range, key?: string): Promise<ViewAnswer> {
  const query = { ...range, ...(key !== undefined && { key }) };
  const [batch, speed] = await Promise.all([
    layer === 'speed' ? batchVersion(sources).then((v) => ({ ...v, rows: NO_ROWS })) : readBatch(sources, view, query),
    layer === 'batch' ? null : readSpeed(sources, view, query),
  ]);
  const speedWatermark = speed ? speed.watermark : await speedWatermarkOf(sources, view);
  return {
    view: view.name,
    layer,
    ...range,
    batchRunId: batch.runId,
    highWaterMark: batch.highWaterMark,
    speedWatermark,
    lateEvents: speed && { total: speed.lateEvents, inRange: [...speed.lateByWindow.values()].reduce((a, b) => a + b, 0) },
    revisedWindows: speed?.revised ?? [],
    rows: mergedRows({ view, layer, range, highWaterMark: batch.highWaterMark, batch: batch.rows, speed: speed?.rows ?? NO_ROWS }),
  };
}

const NO_ROWS: ViewRow[] = [];
// The sources hand back the same row arrays while their layer has not changed (a batch version is
// immutable; the speed cache answers by committed offsets), so the merge of the same arrays, for
// the same layer and range, is the same: merged once, served from here until either side moves.
const merges = new WeakMap<ViewRow[], WeakMap<ViewRow[], Map<string, ServedRow[]>>>();

function mergedRows(input: MergeInput): ServedRow[] {
  let bySpeed = merges.get(input.batch);
  if (!bySpeed) merges.set(input.batch, (bySpeed = new WeakMap()));
  let byQuery = bySpeed.get(input.speed);
  if (!byQuery) bySpeed.set(input.speed, (byQuery = new Map()));
  const id = `${input.view.name}|${input.layer}|${input.range.from}|${input.range.to}|${input.highWaterMark}`;
  let rows = byQuery.get(id);
  if (!rows) byQuery.set(id, (rows = mergeRows(input)));
  return rows;
}

/** The batch version alone, for a speed-only answer: it still says where the boundary lies, if it can. */
async function batchVersion(sources: Sources) {
  const batch = sources.batch;
  return batch ? fromDependency('batch layer', () => batch.current()) : { runId: null, highWaterMark: null };
}

async function speedWatermarkOf(sources: Sources, view: ViewDefinition): Promise<number | null> {
  const speed = sources.speed;
  return speed ? fromDependency('speed layer', () => speed.watermark(view)) : null;
}
