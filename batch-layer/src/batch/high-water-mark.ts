import type { DuckDBConnection } from '@duckdb/node-api';
import type { ViewDefinition } from '@lambda/shared';

const MINUTE = 60_000;

/**
 * The batch high-water mark: the event time up to which the batch views are complete.
 *
 *   hwm = floor_to_minute( min over log partitions with archived records of
 *                          (max event_time archived from that partition) - safetyLagMs )
 *
 * Each partition's max event time is its watermark without lag (as in the speed layer, per
 * partition, then the minimum); the safety lag stands for events still on their way, by default
 * the largest watermark lag of the views. No archived records: null. Serving answers windows with
 * end <= hwm from the batch views.
 */
export function highWaterMarkOf(maxEventTimeByPartition: ReadonlyMap<number, number>, safetyLagMs: number): number | null {
  if (maxEventTimeByPartition.size === 0) return null;
  const watermark = Math.min(...maxEventTimeByPartition.values()) - safetyLagMs;
  return Math.floor(watermark / MINUTE) * MINUTE;
}

export function defaultSafetyLagMs(views: readonly ViewDefinition[]): number {
  return Math.max(0, ...views.map((v) => v.watermarkLagMs));
}

/** Rows in the archive relation, and the max event time per log partition. */
export async function archiveExtent(
  conn: DuckDBConnection,
  source: string,
): Promise<{ rows: number; maxEventTimeByPartition: Map<number, number> }> {
  const rows = (
    await conn.runAndReadAll(`SELECT log_partition, count(*)::BIGINT, max(epoch_ms(event_time))::BIGINT FROM ${source} GROUP BY ALL`)
  ).getRows();
  return {
    rows: rows.reduce((n, r) => n + Number(r[1]), 0),
    maxEventTimeByPartition: new Map(rows.map((r) => [Number(r[0]), Number(r[2])])),
  };
}
