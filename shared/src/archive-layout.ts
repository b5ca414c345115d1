import path from 'node:path';

/**
 * The archive layout is a public contract, readable by any Parquet engine:
 * `$DATA_DIR/archive/events/dt=YYYY-MM-DD/hour=HH/<file>.parquet`, Hive-partitioned by event date
 * and hour (UTC). Folders whose names start with `_` hold the archive's own bookkeeping and are not
 * part of the dataset.
 */
export const ARCHIVE_COLUMNS = [
  ['event_id', 'VARCHAR'],
  ['type', 'VARCHAR'],
  // TIMESTAMPTZ is written to Parquet as a UTC-adjusted timestamp, so every engine reads the same instant.
  ['event_time', 'TIMESTAMPTZ'],
  ['user_id', 'VARCHAR'],
  ['product_id', 'VARCHAR'],
  ['ad_id', 'VARCHAR'],
  ['amount_cents', 'BIGINT'],
  ['tier', 'VARCHAR'],
  ['country', 'VARCHAR'],
  ['error_code', 'VARCHAR'],
  ['log_partition', 'INTEGER'],
  ['log_offset', 'BIGINT'],
] as const;

export type ArchiveColumn = (typeof ARCHIVE_COLUMNS)[number][0];

export function archiveRoot(dataDir: string): string {
  return path.join(dataDir, 'archive');
}

export function eventsArchiveDir(dataDir: string): string {
  return path.join(archiveRoot(dataDir), 'events');
}

/** The glob a Parquet engine reads the whole dataset with (pair it with hive_partitioning). */
export function eventsArchiveGlob(dataDir: string): string {
  return path.join(eventsArchiveDir(dataDir), 'dt=*', 'hour=*', '*.parquet');
}

/** The Hive partition (UTC date and hour) an event time belongs to. */
export function hivePartition(eventTimeMs: number): { dt: string; hour: string } {
  const iso = new Date(eventTimeMs).toISOString();
  return { dt: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

export function hivePartitionDir(dataDir: string, eventTimeMs: number): string {
  const { dt, hour } = hivePartition(eventTimeMs);
  return path.join(eventsArchiveDir(dataDir), `dt=${dt}`, `hour=${hour}`);
}
