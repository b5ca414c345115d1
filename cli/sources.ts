import {
  AdminConflictError,
  withinRange,
  type AdminActions,
  type BatchViewSource,
  type SpeedViewSource,
  type StateStore,
  type ViewDefinition,
  type ViewQuery,
} from '@lambda/shared';
import { BatchLockedError, BatchViewCache, RollbackRefusedError, rollbackBatch, runBatch } from '@lambda/batch-layer';
import { DEFAULT_IDLE_TIMEOUT_MS, FIELDS, KEYS, readLateCounts, readSpeedViewDetailed, readSpeedWatermark } from '@lambda/speed-layer';

/**
 * The serving layer's sources implemented with the real layers. The CLI is the composition root:
 * the serving layer itself knows only the interfaces in @lambda/shared.
 */

/** The current batch version under `dataDir`; a new run or a rollback is served at once. */
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
}

export function speedSource(store: StateStore, opts: SpeedSourceOptions = {}): SpeedViewSource {
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const now = opts.now ?? Date.now;
  const watermark = (view: ViewDefinition) => readSpeedWatermark(store, view.watermarkLagMs, idleTimeoutMs, now());
  return {
    kind: store.kind,
    watermark,
    read: async (view, query) => {
      const [detailed, mark, lateEvents, lateByWindow] = await Promise.all([
        readSpeedViewDetailed(store, view, query),
        watermark(view),
        readLateCounts(store, view.name),
        readLateByWindow(store, view, query),
      ]);
      return { rows: detailed.rows, revised: detailed.revised, watermark: mark, lateEvents, lateByWindow };
    },
  };
}

/** The per-window late counts the processor keeps in each fixed window's hash, summed over partitions. */
async function readLateByWindow(store: StateStore, view: ViewDefinition, range: ViewQuery): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (view.window.kind === 'session') return out;
  for (const p of await store.partitions()) {
    // The window index is scored by window end.
    const index = await store.zrangeByScore(p, KEYS.windows(view.name), range.from ?? -Infinity, range.to ?? Infinity);
    const windows = index.map((w) => ({ start: Number(w.member), end: w.score })).filter((b) => withinRange(b, range));
    const late = await Promise.all(windows.map((b) => store.hmget(p, KEYS.window(view.name, b.start), [FIELDS.late])));
    windows.forEach((b, i) => {
      const n = Number(late[i]![0] ?? 0);
      if (n > 0) out.set(b.start, (out.get(b.start) ?? 0) + n);
    });
  }
  return out;
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
