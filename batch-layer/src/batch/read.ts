import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { VIEWS, findView, keyColumnOf, viewColumns, type TimeRange, type ViewDefinition, type ViewRow } from '@lambda/shared';
import { sqlString } from '../sql.ts';
import { readManifest } from './manifest.ts';
import { versionDir } from './paths.ts';

export type BatchRow = ViewRow;

export interface BatchViewAnswer {
  view: string;
  runId: string;
  highWaterMark: number | null;
  /** The output column names, in order. */
  columns: string[];
  /** The output column holding the key, when rows have one. */
  keyColumn: string | null;
  rows: BatchRow[];
}

export interface BatchViewQuery extends TimeRange {
  key?: string;
}

/**
 * A view's rows from the current batch version: windows lying inside `[from, to)` (as for a
 * backfill), of one key if given, ordered by window_start then key. Integers stay BIGINT (bigint).
 */
export async function readBatchView(
  dataDir: string,
  viewName: string,
  query: BatchViewQuery = {},
  registry: readonly ViewDefinition[] = VIEWS,
): Promise<BatchViewAnswer> {
  const view = findView(viewName, registry);
  const keyColumn = keyColumnOf(view);
  if (query.key !== undefined && !keyColumn) throw new Error(`view "${view.name}" has no key; --key does not apply`);
  const manifest = await readManifest(dataDir);
  if (!manifest) throw new Error('no batch version has been published yet; run `lambda batch run` first');
  const entry = manifest.current.views[view.name];
  if (!entry) throw new Error(`the current batch version ${manifest.current.runId} holds no rows of "${view.name}"`);
  const where = [
    query.from !== undefined ? `window_start >= ${query.from}` : null,
    query.to !== undefined ? `window_end <= ${query.to}` : null,
    query.key !== undefined ? `${keyColumn} = ${sqlString(query.key)}` : null,
  ].filter((x) => x !== null);
  const file = path.join(versionDir(dataDir, manifest.current.runId), entry.file);
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const reader = await conn.runAndReadAll(
      `SELECT * FROM read_parquet(${sqlString(file)})${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
       ORDER BY window_start${keyColumn ? `, ${keyColumn}` : ''}, window_end`,
    );
    return {
      view: view.name,
      runId: manifest.current.runId,
      highWaterMark: manifest.current.highWaterMark,
      columns: viewColumns(view).map((c) => c.name),
      keyColumn,
      rows: reader.getRowObjectsJS() as BatchRow[],
    };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
