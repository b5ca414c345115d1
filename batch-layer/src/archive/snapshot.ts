import type { DuckDBConnection } from '@duckdb/node-api';
import { ARCHIVE_COLUMNS } from '@lambda/shared';
import { listArchiveFiles, type ArchiveFile } from './files.ts';
import { nextOffsetsOf, readProgress } from './progress.ts';
import { sqlString } from '../sql.ts';

/** A consistent view of the archive: exactly the files of recorded flushes. */
export interface ArchiveSnapshot {
  /** Per log partition: every record below this offset is in `files` (or was dead-lettered). */
  nextOffsets: Map<number, number>;
  files: ArchiveFile[];
}

/**
 * Reads the committed state of the archive. A file is committed when the progress file covers its
 * whole offset range; files of a flush still in flight, or left by a crash before its progress was
 * recorded, lie at or beyond the recorded offset and are left out.
 */
export async function readArchiveSnapshot(dataDir: string): Promise<ArchiveSnapshot> {
  const nextOffsets = nextOffsetsOf(await readProgress(dataDir));
  const files = (await listArchiveFiles(dataDir))
    .filter((f) => !f.temp && f.lastOffset < (nextOffsets.get(f.partition) ?? 0))
    .map(({ temp: _temp, ...f }) => f);
  return { nextOffsets, files };
}

/**
 * Creates (or replaces) a DuckDB view with the archive's columns over exactly the snapshot's files,
 * so a batch run never reads a half-finished flush, however long it runs.
 */
export async function createArchiveView(
  conn: DuckDBConnection,
  snapshot: ArchiveSnapshot,
  viewName = 'archive_events',
): Promise<void> {
  const columns = ARCHIVE_COLUMNS.map(([name]) => name).join(', ');
  const source =
    snapshot.files.length === 0
      ? `(SELECT ${ARCHIVE_COLUMNS.map(([n, t]) => `NULL::${t} AS ${n}`).join(', ')} WHERE false)`
      : `read_parquet([${snapshot.files.map((f) => sqlString(f.path)).join(', ')}], hive_partitioning = false)`;
  await conn.run(`CREATE OR REPLACE VIEW ${quoteIdent(viewName)} AS SELECT ${columns} FROM ${source}`);
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
