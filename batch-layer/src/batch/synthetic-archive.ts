import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { hivePartitionDir } from '@lambda/shared';
import { archiveFileName, publish } from '../archive/files.ts';
import { sqlString } from '../sql.ts';
import { writeProgress } from '../archive/progress.ts';

/**
 * Builds a large archive fast, for benchmarks and crash tests: DuckDB generates the workload's
 * shapes (type mix, users, products, ads, integer amounts, about 1% re-delivered duplicates) from
 * range() with hash-based pseudo-random columns, and writes them straight in the archive layout
 * with a progress file, as if `lambda archive` had read them from a log of `partitions`
 * partitions. Event i has time start + i * 1000 / rate and goes to partition i % partitions at
 * offset i // partitions, so each (hour, partition) file covers one offset range.
 */
export interface SyntheticArchiveOptions {
  events: number;
  /** Hour-aligned epoch ms. */
  start: number;
  /** Events per second of event time. */
  rate?: number;
  partitions?: number;
  users?: number;
  products?: number;
}

export async function buildSyntheticArchive(conn: DuckDBConnection, dataDir: string, o: SyntheticArchiveOptions): Promise<{ files: number }> {
  const rate = o.rate ?? 1000;
  const partitions = o.partitions ?? 4;
  const users = o.users ?? 5000;
  const products = o.products ?? 200;
  if (o.start % 3_600_000 !== 0) throw new Error('start must be hour-aligned');
  const perHour = 3600 * rate;
  if (perHour % partitions !== 0) throw new Error('events per hour must divide by the partition count');
  let files = 0;
  for (let first = 0; first < o.events; first += perHour) {
    const last = Math.min(first + perHour, o.events);
    const dir = hivePartitionDir(dataDir, o.start + (first * 1000) / rate);
    await mkdir(dir, { recursive: true });
    for (let p = 0; p < partitions && first + p < last; p++) {
      const firstOffset = Math.floor((first + p) / partitions);
      const lastOffset = Math.floor((last - 1 - p) / partitions);
      const file = path.join(dir, archiveFileName(p, firstOffset, lastOffset));
      await conn.run(`COPY (${eventsSql(first + p, last, partitions, o.start, rate, users, products)})
        TO ${sqlString(`${file}.tmp`)} (FORMAT parquet, COMPRESSION zstd)`);
      await publish(`${file}.tmp`, file);
      files++;
    }
  }
  const nextOffsets: Record<string, number> = {};
  for (let p = 0; p < partitions; p++) nextOffsets[p] = Math.max(0, Math.ceil((o.events - p) / partitions));
  await writeProgress(dataDir, { version: 1, nextOffsets, archived: nextOffsets, deadLettered: {}, updatedAt: new Date().toISOString() });
  return { files };
}

export async function removeArchive(dataDir: string): Promise<void> {
  await rm(path.join(dataDir, 'archive'), { recursive: true, force: true });
}

function eventsSql(from: number, to: number, step: number, start: number, rate: number, users: number, products: number): string {
  // u: uniform in [0, 1) per event and salt; the type mix follows the generator's weights. Every
  // field derives from e, the event the record carries: one record in a hundred is a retry that
  // carries the previous record's event again, identical, as a producer's retry would (not across
  // an hour, whose file must hold only that hour's events).
  const u = (salt: number) => `(hash(e, ${salt}) % 1000000)::DOUBLE / 1000000`;
  return `SELECT
      'e' || e AS event_id,
      type,
      make_timestamptz(((${start} + (e * 1000) // ${rate}) * 1000)::BIGINT) AS event_time,
      'user-' || lpad((hash(e, 2) % ${users})::VARCHAR, 4, '0') AS user_id,
      CASE WHEN type IN ('purchase', 'page_view', 'error', 'click') AND ${u(3)} < 0.9
           THEN 'product-' || lpad((hash(e, 4) % ${products})::VARCHAR, 3, '0') END AS product_id,
      CASE WHEN type IN ('impression', 'click') THEN 'ad-' || (hash(e, 5) % 50)::VARCHAR END AS ad_id,
      CASE WHEN type = 'purchase' THEN (hash(e, 6) % 100000)::BIGINT END AS amount_cents,
      CASE WHEN type = 'profile_update' THEN 'gold' END AS tier,
      CASE WHEN type = 'profile_update' THEN 'DE' END AS country,
      CASE WHEN type = 'error' THEN 'E500' END AS error_code,
      (i % ${step})::INTEGER AS log_partition,
      (i // ${step})::BIGINT AS log_offset
    FROM (
      SELECT i, e, CASE
        WHEN x < 0.50 THEN 'page_view' WHEN x < 0.70 THEN 'impression' WHEN x < 0.85 THEN 'click'
        WHEN x < 0.91 THEN 'purchase' WHEN x < 0.975 THEN 'profile_update' WHEN x < 0.99 THEN 'error'
        ELSE 'login_failed' END AS type
      FROM (
        SELECT i, e, ${u(0)} AS x
        FROM (SELECT i, i - CASE WHEN hash(i, 1) % 100 = 0 AND i % ${3600 * rate} <> 0 THEN 1 ELSE 0 END AS e FROM range(${from}, ${to}, ${step}) AS r(i))
      )
    )`;
}
