import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  DEFAULT_TOPICS,
  MemoryStateStore,
  VIEWS,
  Workload,
  createLogger,
  findView,
  ingestEvents,
  itemRaw,
  loadConfig,
  type Config,
  type EventLog,
  type ViewDefinition,
  type ViewRow,
  type WorkloadItem,
  type WorkloadOptions,
} from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import {
  readBatchView,
  readManifest,
  rollbackBatch,
  runBatch,
  startArchiver,
  type ArchiverStats,
  type BatchRunOptions,
  type BatchRunResult,
  type RollbackResult,
} from '@lambda/batch-layer';
import { startSpeedLayer, type SpeedStats } from '@lambda/speed-layer';
import { buildApp, type App, type DriftJson } from '@lambda/serving-layer';
import { adminActions, batchSource, speedSource } from '../sources.ts';

/**
 * What every demo scenario shares: the narration, an in-process platform on a fresh data dir
 * (embedded log, memory state store, DuckDB, the serving app), the scripted stream and the
 * arithmetic of windows and money used in the summaries.
 */

export const MINUTE = 60_000;
/** Replayed streams lie in the past: no partition may count as idle while a demo looks at it. */
export const DEMO_IDLE_TIMEOUT_MS = 24 * 3_600_000;

export interface DemoOptions {
  /** Replay without pauses, no server unless `serve`; finishes in well under a minute. */
  fast: boolean;
  /** Start the HTTP server (dashboard and API) while the scenario runs. */
  serve: boolean;
  host: string;
  port: number;
  /** Pause between steps (0 in fast mode), so a viewer can look at the dashboard. */
  pauseMs: number;
  /** Use this data dir (must be empty or absent, and is kept); default a temp dir, removed at the end. */
  dataDir?: string;
  keepData: boolean;
  /** Where the narration goes (stdout, or stderr when the summary is printed as JSON). */
  out: NodeJS.WritableStream;
  /** Keep serving after the summary until this resolves (Ctrl-C); only with `serve`. */
  linger?: () => Promise<void>;
}

export const quietOptions = (overrides: Partial<DemoOptions> = {}): DemoOptions => ({
  fast: true,
  serve: false,
  host: '127.0.0.1',
  port: 0,
  pauseMs: 0,
  keepData: false,
  out: nullStream(),
  ...overrides,
});

function nullStream(): NodeJS.WritableStream {
  return { write: () => true } as unknown as NodeJS.WritableStream;
}

// ---------------------------------------------------------------------------------------------
// Narration

export class Narrator {
  private steps = 0;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly pauseMs: number,
  ) {}

  /** A plain line. */
  say(line = ''): void {
    this.out.write(`${line}\n`);
  }

  /** Indented detail lines under the current step. */
  detail(...lines: string[]): void {
    for (const l of lines) this.out.write(`   ${l}\n`);
  }

  title(text: string): void {
    this.say(text);
    this.say('='.repeat(Math.min(text.length, 100)));
  }

  /** A numbered step; in paced mode, first waits so the previous step can be looked at. */
  async step(text: string): Promise<void> {
    if (this.steps > 0 && this.pauseMs > 0) await new Promise((r) => setTimeout(r, this.pauseMs));
    this.steps++;
    this.say();
    this.say(`[${this.steps}] ${text}`);
  }

  /** In paced mode, a short wait between deliveries of the stream, so the dashboard shows them arrive. */
  async beat(): Promise<void> {
    if (this.pauseMs > 0) await new Promise((r) => setTimeout(r, Math.round(this.pauseMs / 4)));
  }

  /** A "what to look at" pointer. */
  look(what: string): void {
    this.out.write(`   look: ${what}\n`);
  }

  table(header: string[], rows: string[][]): void {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    this.detail(line(header));
    for (const r of rows) this.detail(line(r));
  }
}

// ---------------------------------------------------------------------------------------------
// The platform, in process

export interface Platform {
  dataDir: string;
  config: Config;
  log: EventLog;
  store: MemoryStateStore;
  /** The serving layer's app: queried in process (inject) whether or not it listens. */
  app: App;
  /** `http://host:port` when serving, else null. */
  address: string | null;
  ingest(items: WorkloadItem[]): Promise<{ accepted: number; rejected: number }>;
  archive(): Promise<ArchiverStats>;
  speed(opts?: { views?: readonly ViewDefinition[]; now?: () => number }): Promise<SpeedStats>;
  /** A batch run; resolves once the serving layer serves the new version. */
  batch(opts?: Omit<BatchRunOptions, 'dataDir'>): Promise<BatchRunResult>;
  /** `lambda batch rollback`; resolves once the serving layer serves the version rolled back to. */
  rollback(to?: string): Promise<RollbackResult>;
  /** `GET /v1/drift?view=&from=&to=`: the serving layer's drift report of one view. */
  drift(view: string, range: Range): Promise<DriftJson>;
  /** `GET /v1/views/:view?from=&to=&layer=`: rows as served (JSON), each with `source`. */
  served(view: string, range: Range, layer?: 'merged' | 'batch' | 'speed'): Promise<ServedJson>;
  /** Raw rows of one layer (no filling), for the demo's own per-window tables. */
  batchRows(view: ViewDefinition, range: Range): Promise<{ runId: string | null; highWaterMark: number | null; rows: ViewRow[] }>;
  speedRows(view: ViewDefinition, range: Range): Promise<{ rows: ViewRow[]; lateByWindow: Map<number, number>; lateEvents: Record<string, number> }>;
  close(): Promise<void>;
}

export interface Range {
  from: number;
  to: number;
}


export interface ServedJson {
  batchRunId: string | null;
  highWaterMark: number | null;
  speedWatermark: number | null;
  rows: Array<Record<string, unknown> & { window_start: number; window_end: number; source: 'batch' | 'speed' }>;
}

export async function openPlatform(opts: DemoOptions, say: Narrator): Promise<Platform> {
  const temp = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'lambda-demo-')));
  const existing = await readdir(dataDir).catch(() => []);
  if (existing.length > 0) throw new Error(`demo: the data dir ${dataDir} is not empty; a demo starts from nothing (give an empty or new dir)`);
  // Always the embedded log and the memory store: a demo never writes into a shared cluster.
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, KAFKA_BROKERS: '', REDIS_URL: '' };
  const config = loadConfig(env);
  const log = await openEventLog(config, { forProducing: true, clientId: 'demo' });
  await log.ensureTopics(DEFAULT_TOPICS);
  const store = await MemoryStateStore.open({ dir: null });
  const logger = createLogger('demo', opts.serve ? 'warn' : 'silent');
  const app = buildApp({
    config,
    log,
    logger,
    batch: batchSource(dataDir),
    speed: speedSource(store, { idleTimeoutMs: DEMO_IDLE_TIMEOUT_MS }),
    admin: adminActions(dataDir),
  });
  let address: string | null = null;
  try {
    if (opts.serve) {
      await app.listen({ host: opts.host, port: opts.port });
      address = `http://${opts.host}:${(app.server.address() as { port: number }).port}`;
    } else {
      await app.ready();
    }
  } catch (err) {
    await app.close();
    await store.close();
    await log.close();
    throw err;
  }
  say.detail(
    `data dir: ${dataDir}${temp && !opts.keepData ? ' (temporary, removed at the end)' : ''}`,
    'log: embedded (file-backed, 3 partitions keyed by user_id); speed state: in-process memory store; batch: DuckDB',
    address ? `serving: ${address} (dashboard at ${address}/, API under ${address}/v1/, OpenAPI at ${address}/docs)` : 'serving: in process only (add --serve to open the dashboard and the API on a port)',
  );

  const inject = async <T>(url: string): Promise<T> => {
    const res = await app.inject({ method: 'GET', url });
    if (res.statusCode !== 200) throw new Error(`GET ${url} answered ${res.statusCode}: ${res.body}`);
    return res.json() as T;
  };
  const speed = speedSource(store, { idleTimeoutMs: DEMO_IDLE_TIMEOUT_MS });
  // The serving layer may notice a new batch version a moment after it is published (it caches);
  // the narration queries it only once it serves the version just made current.
  const served = async (runId: string) => {
    for (let i = 0; i < 200; i++) {
      const answer = await inject<{ batchRunId: string | null }>(`/v1/views/${REVENUE.name}?from=0&to=${MINUTE}&layer=batch`);
      if (answer.batchRunId === runId) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`the serving layer does not serve batch version ${runId}`);
  };
  return {
    dataDir,
    config,
    log,
    store,
    app,
    address,
    ingest: async (items) => {
      const r = await ingestEvents(log, items.map(itemRaw), { source: 'demo', maxFutureSkewMs: config.maxFutureSkewMs });
      return { accepted: r.accepted, rejected: r.rejected.length };
    },
    archive: async () => (await startArchiver({ log, dataDir, once: true })).done,
    speed: async (o = {}) =>
      (
        await startSpeedLayer({
          log,
          store,
          dataDir,
          once: true,
          idleTimeoutMs: DEMO_IDLE_TIMEOUT_MS,
          ...(o.views ? { views: o.views } : {}),
          ...(o.now ? { now: o.now } : {}),
        })
      ).done,
    batch: async (o = {}) => {
      const result = await runBatch({ threads: 2, ...o, dataDir });
      await served(result.version.runId);
      return result;
    },
    rollback: async (to) => {
      const result = await rollbackBatch(dataDir, to);
      await served(result.to.runId);
      return result;
    },
    drift: async (view, r) => (await inject<{ drift: DriftJson[] }>(`/v1/drift?view=${view}&from=${r.from}&to=${r.to}`)).drift[0]!,
    served: (view, r, layer = 'merged') => inject<ServedJson>(`/v1/views/${view}?from=${r.from}&to=${r.to}&layer=${layer}`),
    // Read from the published files directly (not through the serving cache): the narration's own tables.
    batchRows: async (view, r) => {
      const current = (await readManifest(dataDir))?.current;
      if (!current?.views[view.name]) return { runId: current?.runId ?? null, highWaterMark: null, rows: [] };
      const answer = await readBatchView(dataDir, view.name, r, [view]);
      return { runId: answer.runId, highWaterMark: answer.highWaterMark, rows: answer.rows };
    },
    speedRows: (view, r) => speed.read(view, r),
    close: async () => {
      await app.close();
      await store.close();
      await log.close();
      if (temp && !opts.keepData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Opens the platform, runs the scenario, and always closes (after lingering if asked). */
export async function withPlatform<T>(opts: DemoOptions, say: Narrator, run: (p: Platform) => Promise<T>): Promise<T> {
  const platform = await openPlatform(opts, say);
  try {
    const result = await run(platform);
    if (platform.address && opts.linger) {
      say.say();
      say.say(`The platform keeps serving at ${platform.address} so you can look around; Ctrl-C to stop.`);
      await opts.linger();
    }
    return result;
  } finally {
    await platform.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The scripted stream

export interface StreamSettings {
  seed: number;
  minutes: number;
  rate: number;
  users: number;
  products: number;
  lateShare: number;
  lateDelayMs: number;
  duplicateShare: number;
  /** The stream lies before this time (default: now); tests fix it to regenerate the same stream. */
  now?: number;
}

export interface ScriptedStream {
  items: WorkloadItem[];
  workload: Workload;
  /** First event time, aligned to a minute. */
  start: number;
  /** Event time the stream covers up to (exclusive), aligned to a minute. */
  end: number;
  /** Latest arrival (emission) time. */
  lastArrival: number;
}

/**
 * The seeded workload, with event times in the recent past: it ends (late deliveries included)
 * before now, so replaying it as fast as possible puts no event in the future.
 */
export function scriptedStream(s: StreamSettings, now = s.now ?? Date.now()): ScriptedStream {
  const durationMs = Math.round(s.minutes * MINUTE);
  const start = floorMinute(now - durationMs - Math.ceil(1.5 * s.lateDelayMs) - 2 * MINUTE);
  const options: WorkloadOptions = {
    seed: s.seed,
    durationMs,
    rate: s.rate,
    startTime: start,
    users: s.users,
    products: s.products,
    lateShare: s.lateShare,
    lateDelayMs: s.lateDelayMs,
    duplicateShare: s.duplicateShare,
    malformedShare: 0,
    loginBurstsPerHour: 6,
  };
  const workload = new Workload(options);
  const items = [...workload];
  return { items, workload, start, end: start + ceilMinute(durationMs), lastArrival: Math.max(start, ...items.map((i) => i.emittedAt)) };
}

/** The stream cut into deliveries by arrival time: `[start + k*chunk, start + (k+1)*chunk)`, in order. */
export function deliveries(stream: ScriptedStream, chunkMs: number): Array<{ from: number; to: number; items: WorkloadItem[] }> {
  const out: Array<{ from: number; to: number; items: WorkloadItem[] }> = [];
  for (const item of stream.items) {
    const k = Math.floor((item.emittedAt - stream.start) / chunkMs);
    let last = out.at(-1);
    while (!last || last.to <= stream.start + k * chunkMs) {
      const from = last ? last.to : stream.start;
      out.push((last = { from, to: from + chunkMs, items: [] }));
    }
    last.items.push(item);
  }
  return out.filter((d) => d.items.length > 0);
}

/** Purchases as accepted events (duplicates dropped: the first copy counts, as in both layers). */
export function purchases(items: readonly WorkloadItem[]): Array<{ item: WorkloadItem; time: number; cents: number; product: string; user: string }> {
  const seen = new Set<string>();
  const out = [];
  for (const item of items) {
    if (item.rejectField !== null || item.event === null) continue;
    const id = String(item.event.event_id);
    if (seen.has(id)) continue;
    seen.add(id);
    if (item.event.type !== 'purchase') continue;
    out.push({ item, time: Number(item.event.event_time), cents: Number(item.event.amount_cents), product: String(item.event.product_id), user: String(item.event.user_id) });
  }
  return out;
}

/** Sums cents and counts per minute window of the given time. */
export function perMinute<T>(list: readonly T[], time: (x: T) => number, cents: (x: T) => number): Map<number, { cents: number; count: number }> {
  const out = new Map<number, { cents: number; count: number }>();
  for (const x of list) {
    const w = floorMinute(time(x));
    const cur = out.get(w) ?? { cents: 0, count: 0 };
    cur.cents += cents(x);
    cur.count++;
    out.set(w, cur);
  }
  return out;
}

/** revenue_per_minute rows by window_start (numbers: demo sums stay far below 2^53). */
export function revenueByWindow(rows: readonly ViewRow[]): Map<number, { cents: number; count: number }> {
  return new Map(rows.map((r) => [Number(r.window_start), { cents: Number(r.revenue_cents ?? 0), count: Number(r.purchases ?? 0) }]));
}

export function minutesOf(range: Range): number[] {
  const out = [];
  for (let t = range.from; t + MINUTE <= range.to; t += MINUTE) out.push(t);
  return out;
}

export const REVENUE = findView('revenue_per_minute');
export const floorMinute = (t: number) => Math.floor(t / MINUTE) * MINUTE;
export const ceilMinute = (t: number) => Math.ceil(t / MINUTE) * MINUTE;

export function hhmm(t: number): string {
  return new Date(t).toISOString().slice(11, 16);
}

export function hhmmss(t: number): string {
  return new Date(t).toISOString().slice(11, 19);
}

export function money(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}$${Math.floor(abs / 100).toLocaleString('en-US')}.${String(abs % 100).padStart(2, '0')}`;
}

export function signedMoney(cents: number): string {
  return cents > 0 ? `+${money(cents)}` : money(cents);
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

/** The views the speed layer runs, with one definition replaced. */
export function withView(views: readonly ViewDefinition[], replacement: ViewDefinition): ViewDefinition[] {
  return views.map((v) => (v.name === replacement.name ? replacement : v));
}

export { VIEWS };
