import { setTimeout as sleep } from 'node:timers/promises';
import type { Workload, WorkloadItem } from './workload.ts';

/** In realtime runs, emission runs at most this far ahead of the wall clock. */
const PACE_GRANULARITY_MS = 100;

export interface EmitOptions {
  /** Items per write. */
  batch: number;
  /** Pace emission against the wall clock at the workload's rate (live demos); else as fast as possible. */
  realtime: boolean;
  /** Checked after every item: true ends the run after writing what was gathered. */
  shouldStop: () => boolean;
}

/**
 * Drives a workload into a writer in batches. Each batch is written before the next is gathered,
 * so a stop request leaves everything emitted so far written, and nothing half-written.
 */
export async function emitWorkload(
  workload: Workload,
  write: (items: WorkloadItem[]) => Promise<void>,
  opts: EmitOptions,
): Promise<void> {
  let batch: WorkloadItem[] = [];
  const flush = async () => {
    const items = batch;
    batch = [];
    await write(items);
  };
  const wallStart = performance.now();
  for (const item of workload) {
    if (opts.realtime) {
      const ahead = wallStart + (item.emittedAt - workload.options.startTime) - performance.now();
      if (ahead >= PACE_GRANULARITY_MS) {
        if (batch.length > 0) await flush();
        if (opts.shouldStop()) return;
        await sleep(ahead);
      }
    }
    batch.push(item);
    if (batch.length >= opts.batch) await flush();
    if (opts.shouldStop()) break;
  }
  if (batch.length > 0) await flush();
}
