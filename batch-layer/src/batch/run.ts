import { rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { VIEWS, findView, sessionSpecOf, type TimeRange, type ViewDefinition } from '@lambda/shared';
import { createArchiveView, readArchiveSnapshot } from '../archive/snapshot.ts';
import { fsyncPath } from '../archive/files.ts';
import { sqlString } from '../sql.ts';
import { compileView, runEventsSql, sessionEventsSql } from '../compiler/compile-view.ts';
import { archiveExtent, defaultSafetyLagMs, highWaterMarkOf } from './high-water-mark.ts';
import { withBatchLock } from './lock.ts';
import { publishManifest, readManifest, type BatchVersion, type ViewVersion } from './manifest.ts';
import { stagingDir, versionDir, viewFileName } from './paths.ts';
import { newRunId } from './run-id.ts';
import { carryOver, prepareStaging, publishStaging, removeUnreferencedVersions } from './version-files.ts';

export const DEFAULT_KEEP_VERSIONS = 5;

export interface BatchRunOptions extends TimeRange {
  dataDir: string;
  /** Views to recompute (default: all); the others are carried over from the current version. */
  views?: readonly string[];
  /** Versions kept after publishing, the new one included. */
  keep?: number;
  /** Subtracted from the archive's watermark for the high-water mark (default: the largest view lag). */
  safetyLagMs?: number;
  /** DuckDB worker threads (default: the machine's parallelism). */
  threads?: number;
  registry?: readonly ViewDefinition[];
  onProgress?: (line: string) => void;
}

export interface BatchRunResult {
  version: BatchVersion;
  kept: string[];
  removed: string[];
}

export class BackfillWithoutVersionError extends Error {}

/**
 * One batch run: under the batch lock, a consistent archive snapshot is recomputed into a new
 * version directory (complete and durable before it is named), then the manifest is published by
 * atomic rename, then versions beyond the newest `keep` are deleted. A crash at any point leaves
 * the published manifest and its versions untouched; the next run removes the leftovers.
 *
 * With `from`/`to` (a backfill) only windows lying inside the range are recomputed; every other
 * row is carried over from the current version, and so is the high-water mark.
 */
export async function runBatch(options: BatchRunOptions): Promise<BatchRunResult> {
  const registry = options.registry ?? VIEWS;
  const selected = new Set((options.views ?? registry.map((v) => v.name)).map((n) => findView(n, registry).name));
  const backfill = options.from !== undefined || options.to !== undefined;
  if (options.from !== undefined && options.to !== undefined && options.from >= options.to) {
    throw new Error('--from must be before --to');
  }
  const keep = options.keep ?? DEFAULT_KEEP_VERSIONS;
  if (!Number.isSafeInteger(keep) || keep < 1) throw new Error('keep must be a positive integer');
  const safetyLagMs = options.safetyLagMs ?? defaultSafetyLagMs(registry);
  const progress = options.onProgress ?? (() => undefined);
  const started = new Date();
  const runId = newRunId(started);
  const { dataDir } = options;

  return withBatchLock(dataDir, `batch run ${runId}`, async (lock) => {
    const manifest = await readManifest(dataDir);
    const leftovers = await removeUnreferencedVersions(dataDir, manifest);
    if (leftovers.length > 0) progress(`removed ${leftovers.length} unpublished or dropped version dir(s): ${leftovers.join(', ')}`);
    const current = manifest?.current ?? null;
    if (backfill && !current) {
      throw new BackfillWithoutVersionError('a backfill (--from/--to) needs a current version to carry rows over from; run `lambda batch run` first');
    }

    const snapshot = await readArchiveSnapshot(dataDir);
    const staging = stagingDir(dataDir, runId);
    await prepareStaging(staging);
    const instance = await DuckDBInstance.create(':memory:', {
      threads: String(options.threads ?? os.availableParallelism()),
      temp_directory: path.join(staging, '.spill'),
    });
    const conn = await instance.connect();
    try {
      await createArchiveView(conn, snapshot, 'archive_events');
      const extent = await archiveExtent(conn, 'archive_events');
      const runHwm = highWaterMarkOf(extent.maxEventTimeByPartition, safetyLagMs);
      progress(
        `run ${runId}${backfill ? ` (backfill ${describeRange(options)})` : ''}: snapshot of ${snapshot.files.length} files, ` +
          `${extent.rows} rows; high-water mark ${iso(backfill ? current!.highWaterMark : runHwm)}`,
      );

      // Duplicates are removed once for every view of the run, not once per view: the dedupe sorts
      // by event_id, the costliest step of a view that only filters and aggregates.
      const computed = registry.filter((v) => selected.has(v.name));
      const dedupeStarted = performance.now();
      await conn.run(`CREATE TEMP TABLE run_events AS ${runEventsSql(computed, 'archive_events', { from: options.from, to: options.to })}`);
      progress(`events read and deduplicated once for ${computed.length} views in ${((performance.now() - dedupeStarted) / 1000).toFixed(2)} s`);
      const sessionEvents = await numberSessionsOnce(conn, computed, { from: options.from, to: options.to }, progress);

      const views: Record<string, ViewVersion> = {};
      for (const view of registry) {
        const file = viewFileName(view.name);
        const target = path.join(staging, file);
        const previous = current?.views[view.name];
        if (!selected.has(view.name)) {
          if (!previous) continue;
          await carryOver(path.join(versionDir(dataDir, current!.runId), previous.file), target);
          views[view.name] = { ...previous, computed: false };
          continue;
        }
        const viewStarted = performance.now();
        const sql = compileView(view, {
          source: 'run_events',
          deduplicated: true,
          from: options.from,
          to: options.to,
          ...(sessionEvents.has(view.name) && { sessionEvents: sessionEvents.get(view.name) }),
        });
        const rows = await writeParquet(
          conn,
          backfill && previous ? backfillSql(view, sql, path.join(versionDir(dataDir, current!.runId), previous.file), options) : sql,
          target,
        );
        const hwm = backfill ? (previous?.highWaterMark ?? current!.highWaterMark) : runHwm;
        views[view.name] = { file, rows, computed: true, highWaterMark: hwm };
        progress(`${view.name}: ${rows} rows in ${((performance.now() - viewStarted) / 1000).toFixed(2)} s`);
      }
      await rm(path.join(staging, '.spill'), { recursive: true, force: true });

      lock.check();
      await publishStaging(staging, versionDir(dataDir, runId));
      const finished = new Date();
      const version: BatchVersion = {
        runId,
        kind: backfill ? 'backfill' : 'full',
        range: backfill ? { from: options.from ?? null, to: options.to ?? null } : null,
        basedOn: backfill || selected.size < registry.length ? (current?.runId ?? null) : null,
        highWaterMark: minOf(Object.values(views).map((v) => v.highWaterMark)),
        safetyLagMs,
        input: { files: snapshot.files.length, rows: extent.rows, nextOffsets: Object.fromEntries(snapshot.nextOffsets) },
        views,
        startedAt: started.toISOString(),
        finishedAt: finished.toISOString(),
        durationMs: finished.getTime() - started.getTime(),
      };
      const versions = [version, ...(manifest?.versions ?? [])].sort((a, b) => (a.runId < b.runId ? 1 : -1)).slice(0, keep);
      lock.check();
      const published = await publishManifest(dataDir, version, versions);
      const removed = await removeUnreferencedVersions(dataDir, published);
      return { version, kept: versions.map((v) => v.runId), removed };
    } finally {
      conn.closeSync();
      instance.closeSync();
      await rm(staging, { recursive: true, force: true });
    }
  });
}

/**
 * Session views that share their sessions (same input, key and gap) have them numbered once, in a
 * temp table each group reads: sessionization is two window passes over every input event.
 * Returns the table of each such view.
 */
async function numberSessionsOnce(
  conn: DuckDBConnection,
  views: readonly ViewDefinition[],
  range: TimeRange,
  progress: (line: string) => void,
): Promise<Map<string, string>> {
  const groups = new Map<string, ViewDefinition[]>();
  for (const v of views) {
    const spec = sessionSpecOf(v);
    if (spec !== null) groups.set(spec, [...(groups.get(spec) ?? []), v]);
  }
  const tables = new Map<string, string>();
  let n = 0;
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    const table = `session_events_${n++}`;
    const started = performance.now();
    await conn.run(`CREATE TEMP TABLE ${table} AS ${sessionEventsSql(group, { source: 'run_events', deduplicated: true, ...range })}`);
    progress(`sessions numbered once for ${group.map((v) => v.name).join(', ')} in ${((performance.now() - started) / 1000).toFixed(2)} s`);
    for (const v of group) tables.set(v.name, table);
  }
  return tables;
}

/** Writes a query's rows as Parquet under a temp name, durable, then renamed; returns the row count. */
async function writeParquet(conn: DuckDBConnection, sql: string, target: string): Promise<number> {
  const temp = `${target}.tmp`;
  const result = await conn.runAndReadAll(`COPY (${sql}) TO ${sqlString(temp)} (FORMAT parquet, COMPRESSION zstd)`);
  await fsyncPath(temp);
  await rename(temp, target);
  return Number(result.getRows()[0]![0]);
}

/** The current version's rows outside the range, plus the recomputed rows inside it. */
function backfillSql(view: ViewDefinition, recomputed: string, currentFile: string, range: TimeRange): string {
  const inside = [
    range.from !== undefined ? `window_start >= ${range.from}` : null,
    range.to !== undefined ? `window_end <= ${range.to}` : null,
  ].filter((x) => x !== null);
  const keyOrder = view.key && view.output.kind !== 'open_sessions' ? `, ${view.key}` : '';
  return `SELECT * FROM (
    SELECT * FROM read_parquet(${sqlString(currentFile)}) WHERE NOT (${inside.join(' AND ')})
    UNION ALL BY NAME
    SELECT * FROM (${recomputed})
  ) ORDER BY window_start${keyOrder}, window_end`;
}

function minOf(values: (number | null)[]): number | null {
  const present = values.filter((v) => v !== null);
  return present.length > 0 ? Math.min(...present) : null;
}

export function iso(t: number | null | undefined): string {
  return t === null || t === undefined ? 'none' : new Date(t).toISOString();
}

export function describeRange(r: TimeRange): string {
  return `[${r.from !== undefined ? iso(r.from) : '-inf'}, ${r.to !== undefined ? iso(r.to) : '+inf'})`;
}
