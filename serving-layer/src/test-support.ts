import type { TestContext } from 'node:test';
import {
  createLogger,
  keyColumnOf,
  loadConfig,
  withinRange,
  type BatchVersionInfo,
  type BatchViewSource,
  type EventLog,
  type SpeedSourceAnswer,
  type SpeedViewSource,
  type ViewDefinition,
  type ViewQuery,
  type ViewRow,
} from '@lambda/shared';
import { buildApp, type AppOptions } from './app.ts';

/** Doubles of the source interfaces over hand-made rows, filtering as the real readers do. */

export const MINUTE = 60_000;
/** A minute-aligned instant, so that test windows are easy to read. */
export const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

export type Rows = Record<string, ViewRow[]>;

function select(view: ViewDefinition, rows: Rows, q: ViewQuery): ViewRow[] {
  const key = keyColumnOf(view);
  return (rows[view.name] ?? []).filter(
    (r) => withinRange({ start: Number(r.window_start), end: Number(r.window_end) }, q) && (q.key === undefined || (key !== null && r[key] === q.key)),
  );
}

export function fakeBatch(rows: Rows, version: BatchVersionInfo): BatchViewSource & { queries: ViewQuery[] } {
  const queries: ViewQuery[] = [];
  return {
    queries,
    current: async () => version,
    read: async (view, q) => {
      queries.push(q);
      return { ...version, rows: select(view, rows, q) };
    },
  };
}

export function fakeSpeed(rows: Rows, facts: Partial<Omit<SpeedSourceAnswer, 'rows'>> = {}): SpeedViewSource {
  const answer = { watermark: null, lateEvents: {}, lateByWindow: new Map(), revised: [], ...facts };
  return {
    kind: 'memory',
    watermark: async () => answer.watermark,
    read: async (view, q) => ({ ...answer, rows: select(view, rows, q) }),
  };
}

/** A row of a view: its window from a start (epoch ms) and size, then the given columns. */
export function row(start: number, sizeMs: number, columns: Record<string, ViewRow[string]>): ViewRow {
  return { window_start: BigInt(start), window_end: BigInt(start + sizeMs), ...columns };
}

/** The read routes use no log; the ingest route, which does, has its own tests. */
function unusedLog(): EventLog {
  const unused = () => Promise.reject(new Error('the log is not used by these tests'));
  return {
    kind: 'embedded',
    ensureTopics: unused,
    produce: unused,
    partitionCount: unused,
    endOffsets: unused,
    committedOffsets: unused,
    consume: unused,
    read: unused,
    close: async () => undefined,
  };
}

export function testApp(t: TestContext, opts: Partial<AppOptions> = {}, env: Record<string, string> = {}) {
  const app = buildApp({ config: loadConfig(env), log: unusedLog(), logger: createLogger('test', 'silent'), now: () => T0 + 30_000, ...opts });
  t.after(() => app.close());
  return app;
}
