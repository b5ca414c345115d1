import path from 'node:path';
import type { Config } from '../config.ts';
import { MemoryStateStore } from './memory-store.ts';
import { RedisStateStore } from './redis-store.ts';
import type { StateStore } from './types.ts';

export interface OpenStateOptions {
  /** Redis key prefix (default `lambda:`), for isolation. */
  keyPrefix?: string;
  checkpointIntervalMs?: number;
  /** Memory back end: load the latest checkpoint without taking ownership (readers in another process). */
  readOnly?: boolean;
}

/** Redis when REDIS_URL is set, else the memory store checkpointing to `<dataDir>/speed`. */
export async function openStateStore(config: Config, opts: OpenStateOptions = {}): Promise<StateStore> {
  if (config.redisUrl) {
    return RedisStateStore.open({ url: config.redisUrl, ...(opts.keyPrefix !== undefined && { keyPrefix: opts.keyPrefix }) });
  }
  return MemoryStateStore.open({
    dir: path.join(config.dataDir, 'speed'),
    ...(opts.checkpointIntervalMs !== undefined && { checkpointIntervalMs: opts.checkpointIntervalMs }),
    ...(opts.readOnly !== undefined && { readOnly: opts.readOnly }),
  });
}
