import { type StateStore } from '@lambda/shared';
import { KEYS, META } from './keys.ts';

export interface PartitionProgress {
  /** Max event time seen in the partition; null before its first event. */
  maxTime: number | null;
  /** Processing time of the partition's last batch with records. */
  lastActivity: number;
}

/**
 * The layer's watermark for a view: the minimum over active partitions of (max event time - lag).
 * A partition with no batch for `idleTimeoutMs` is idle and stops holding the watermark back; when
 * every partition is idle, nothing holds it back and it is the maximum. Null before any event.
 */
export function layerWatermark(parts: PartitionProgress[], lagMs: number, idleTimeoutMs: number, now: number): number | null {
  const seen = parts.filter((p) => p.maxTime !== null);
  if (seen.length === 0) return null;
  const active = seen.filter((p) => now - p.lastActivity < idleTimeoutMs);
  const times = (active.length > 0 ? active : seen).map((p) => p.maxTime!);
  return (active.length > 0 ? Math.min(...times) : Math.max(...times)) - lagMs;
}

/** Every partition's progress as the store holds it (for readers in any process). */
export async function readProgress(store: StateStore): Promise<Map<number, PartitionProgress>> {
  const partitions = await store.partitions();
  const read = await Promise.all(
    partitions.map(async (p) => {
      const [max, at] = await store.hmget(p, KEYS.meta, [META.maxTime, META.updatedAt]);
      return { maxTime: max === null || max === undefined ? null : Number(max), lastActivity: Number(at ?? 0) };
    }),
  );
  return new Map(partitions.map((p, i) => [p, read[i]!]));
}
