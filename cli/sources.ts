import {
  AdminConflictError,
  TOPICS,
  type AdminActions,
  type BatchViewSource,
  type EventLog,
  type SpeedViewSource,
  type StateStore,
  type ViewDefinition,
} from '@lambda/shared';
import { BatchLockedError, BatchViewCache, RollbackRefusedError, rollbackBatch, runBatch } from '@lambda/batch-layer';
import { DEFAULT_IDLE_TIMEOUT_MS, SpeedViewCache, layerWatermark, type PartitionProgress } from '@lambda/speed-layer';

/**
 * The serving layer's sources implemented with the real layers. The CLI is the composition root:
 * the serving layer itself knows only the interfaces in @lambda/shared.
 */

/** The current batch version under `dataDir`; a new run or a rollback is served within a quarter second. */
export function batchSource(dataDir: string): BatchViewSource {
  const cache = new BatchViewCache(dataDir);
  return {
    current: async () => {
      const current = (await cache.current())?.current;
      return { runId: current?.runId ?? null, highWaterMark: current?.highWaterMark ?? null };
    },
    read: async (view, query) => {
      const current = (await cache.current())?.current;
      // A view the current version lacks (added since the run) has no complete windows yet: the
      // speed layer serves all of it until the next run.
      if (!current?.views[view.name]) return { runId: current?.runId ?? null, highWaterMark: null, rows: [] };
      const answer = await cache.read(view, query);
      return { runId: answer.runId, highWaterMark: answer.highWaterMark, rows: answer.rows };
    },
  };
}

export interface SpeedSourceOptions {
  /** As the speed layer runs with (`--idle-timeout`), so both see the same watermark. */
  idleTimeoutMs?: number;
  now?: () => number;
  /** The event log the speed layer consumes: with it, the source reports the consumer lag. */
  log?: Pick<EventLog, 'endOffsets'>;
}

export function speedSource(store: StateStore, opts: SpeedSourceOptions = {}): SpeedViewSource {
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const now = opts.now ?? Date.now;
  const log = opts.log;
  const cache = new SpeedViewCache(store);
  const watermarkOf = (view: ViewDefinition, progress: PartitionProgress[]) => layerWatermark(progress, view.watermarkLagMs, idleTimeoutMs, now());
  return {
    kind: store.kind,
    watermark: async (view) => watermarkOf(view, await cache.progress()),
    read: async (view, query) => {
      const { answer, progress } = await cache.readWithProgress(view, query);
      return { ...answer, watermark: watermarkOf(view, progress) };
    },
    ...(log && { lag: () => consumerLag(store, log) }),
  };
}

/**
 * Records of the events topic not processed yet, all partitions: the log's end offsets minus the
 * next offsets the speed layer committed in the store (the truth; the group's offsets are for
 * monitoring only). A partition the store has never seen counts from the beginning of the log.
 */
async function consumerLag(store: StateStore, log: Pick<EventLog, 'endOffsets'>): Promise<number> {
  const ends = await log.endOffsets(TOPICS.events);
  const done = await store.offsets([...ends.keys()]);
  let behind = 0;
  for (const [p, end] of ends) behind += Math.max(0, end - (done.get(p) ?? 0));
  return behind;
}

export function adminActions(dataDir: string): AdminActions {
  return {
    runBatch: () =>
      refusals(locked, async () => {
        const { version, removed } = await runBatch({ dataDir });
        return { runId: version.runId, kind: version.kind, highWaterMark: version.highWaterMark, durationMs: version.durationMs, inputRows: version.input.rows, removed };
      }),
    rollback: (runId) =>
      refusals((err) => locked(err) || err instanceof RollbackRefusedError, async () => {
        const r = await rollbackBatch(dataDir, runId);
        return { from: r.from, to: r.to.runId, highWaterMark: r.to.highWaterMark };
      }),
  };
}

const locked = (err: unknown) => err instanceof BatchLockedError;

/** Errors the operator can act on become AdminConflictError; failures (I/O, DuckDB) stay as they are. */
async function refusals<T>(isRefusal: (err: unknown) => boolean, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (err) {
    throw isRefusal(err) ? new AdminConflictError((err as Error).message) : err;
  }
}
