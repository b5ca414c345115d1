// `npm run bench -- serving [--connections C] [--duration S]`: a 30-window range query of
// revenue_per_minute under concurrent load (autocannon), p50, p99 and req/s, against the
// hello-world route of the same server measured in the same run. Goals: p99 <= 5 ms and at least
// 0.3x the hello-world rate.
//
// The dataset is real: a generated workload through the embedded log, archived, a batch run over
// its first 70%, then the speed layer over all of it (memory state store), served by the real
// layer adapters (cli/sources.ts). The queried range straddles the batch high-water mark, so every
// answer merges batch and speed rows.
//
// The load generator runs in a worker thread (this same file), as a separate client would: the
// figures are the server's, not the server's plus its own load generator's.
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  DEFAULT_TOPICS,
  MemoryStateStore,
  WORKLOAD_DEFAULTS,
  Workload,
  createLogger,
  ingestEvents,
  itemRaw,
  loadConfig,
  type EventLog,
  type WorkloadItem,
} from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import { runBatch, startArchiver } from '@lambda/batch-layer';
import { startSpeedLayer } from '@lambda/speed-layer';
import { buildApp } from '@lambda/serving-layer';
import { batchSource, speedSource } from '../cli/sources.ts';
import { machine } from './_kafka.ts';

const MINUTE = 60_000;
const VIEW = 'revenue_per_minute';
const WINDOWS = 30;
/** About 2 hours of event time at 28 events/s, ending a few minutes before now. */
const EVENTS = 200_000;
const RATE = 28;
/** The share of the events archived before the batch run: the high-water mark lies past it. */
const BATCH_SHARE = 0.7;
/** The speed layer and its source judge idleness alike; the stream has ended, so no partition is idle. */
const IDLE_MS = 24 * 3_600_000;
const WARMUP_S = 2;
const GOALS = { p99_ms: 5, ratio_to_hello: 0.3 };

interface LoadJob {
  url: string;
  connections: number;
  durationS: number;
  warmupS: number;
}
interface LoadResult {
  p50_ms: number;
  p99_ms: number;
  req_per_s: number;
  requests: number;
  /** As autocannon timed the run: it stops at its first one-second tick past the duration. */
  seconds: number;
  errors: number;
  timeouts: number;
  non2xx: number;
}

// autocannon ships no types: the little of its programmatic API used here.
// In a worker thread it answers its raw result (no histograms decoded), which has these fields.
interface AutocannonResult {
  /** Seconds. */
  duration: number;
  totalCompletedRequests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
}
interface AutocannonRun extends PromiseLike<AutocannonResult> {
  on(event: 'response', listener: (client: unknown, statusCode: number, bytes: number, responseTimeMs: number) => void): void;
}
type Autocannon = (opts: { url: string; connections: number; duration: number; pipelining?: number }) => AutocannonRun;

if (isMainThread) await main();
else await load(workerData as LoadJob);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { connections: { type: 'string', default: '10' }, duration: { type: 'string', default: '10' } },
  });
  const connections = Number(values.connections);
  const durationS = Number(values.duration);
  if (!Number.isSafeInteger(connections) || connections <= 0) throw new Error('--connections must be a positive integer');
  if (!Number.isSafeInteger(durationS) || durationS <= 0) throw new Error('--duration must be a positive integer (seconds)');

  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bench-serving-'));
  // The embedded log, whatever the environment says: the figure is the serving layer's, not Kafka's.
  const config = loadConfig({ DATA_DIR: dataDir });
  const log = await openEventLog(config, { forProducing: true });
  const store = await MemoryStateStore.open({ dir: null });
  const app = buildApp({
    config,
    log,
    logger: createLogger('bench-serving', 'silent'),
    batch: batchSource(dataDir),
    speed: speedSource(store, { idleTimeoutMs: IDLE_MS }),
  });
  // The baseline: the same Fastify instance, plugins and hooks, with no work behind the route.
  app.get('/hello', async () => ({ hello: 'world' }));

  try {
    const built = performance.now();
    const hwm = await buildDataset(dataDir, config.maxFutureSkewMs, log, store);
    const from = hwm - (WINDOWS / 2) * MINUTE;
    const to = from + WINDOWS * MINUTE;
    console.error(
      `serving bench: dataset of ${EVENTS} events built in ${((performance.now() - built) / 1000).toFixed(1)} s; ` +
        `high-water mark ${new Date(hwm).toISOString()}`,
    );

    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const route = `/v1/views/${VIEW}?from=${from}&to=${to}`;
    await checkAnswer(`${base}${route}`, hwm);

    const job = { connections, durationS, warmupS: WARMUP_S };
    const hello = await runLoad({ ...job, url: `${base}/hello` });
    console.error(`serving bench: GET /hello: ${summary(hello)}`);
    const view = await runLoad({ ...job, url: `${base}${route}` });
    console.error(`serving bench: GET ${route}: ${summary(view)}`);

    const ratio = view.req_per_s / hello.req_per_s;
    console.error(
      `serving bench: ${WINDOWS} windows, ${connections} connections, ${durationS} s; ` +
        `p99 ${view.p99_ms} ms (goal <= ${GOALS.p99_ms}); ${view.req_per_s} req/s = ${ratio.toFixed(3)}x hello ` +
        `(${hello.req_per_s} req/s; goal >= ${GOALS.ratio_to_hello})`,
    );
    console.log(
      JSON.stringify({
        bench: 'serving',
        route,
        windows: WINDOWS,
        connections,
        duration_s: durationS,
        view: { p50_ms: view.p50_ms, p99_ms: view.p99_ms, req_per_s: view.req_per_s, errors: view.errors + view.timeouts, non2xx: view.non2xx },
        hello: { p50_ms: hello.p50_ms, p99_ms: hello.p99_ms, req_per_s: hello.req_per_s },
        ratio_to_hello: round(ratio),
        goals: GOALS,
        machine: machine(),
        date: new Date().toISOString(),
      }),
    );
    let failed = false;
    for (const [name, r] of [['GET /hello', hello], [`GET ${route}`, view]] as const) {
      if (r.errors + r.timeouts + r.non2xx === 0) continue;
      console.error(`serving bench: ${name}: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx answers`);
      failed = true;
    }
    if (failed) process.exitCode = 1;
  } finally {
    await app.close();
    await store.close();
    await log.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * The workload through the log: the first 70% archived and batch-computed, the rest only in the
 * log, then the speed layer over all of it. Returns the batch high-water mark.
 */
async function buildDataset(dataDir: string, maxFutureSkewMs: number, log: EventLog, store: MemoryStateStore): Promise<number> {
  const now = Date.now();
  const spanMs = Math.ceil((EVENTS * 1000) / RATE);
  const startTime = Math.floor((now - spanMs - 5 * MINUTE) / MINUTE) * MINUTE;
  const items = [...new Workload({ ...WORKLOAD_DEFAULTS, seed: 11, count: EVENTS, rate: RATE, startTime, lateShare: 0.02 })];
  const cut = Math.floor(items.length * BATCH_SHARE);
  const ingest = async (part: WorkloadItem[]) => {
    for (let i = 0; i < part.length; i += 10_000) {
      const r = await ingestEvents(log, part.slice(i, i + 10_000).map(itemRaw), { source: 'bench', maxFutureSkewMs, now });
      if (r.rejected.length > 0) throw new Error(`ingest rejected ${r.rejected.length} events: ${JSON.stringify(r.rejected[0])}`);
    }
  };

  await log.ensureTopics(DEFAULT_TOPICS);
  await ingest(items.slice(0, cut));
  const archived = await (await startArchiver({ log, dataDir, once: true })).done;
  const { version } = await runBatch({ dataDir, threads: os.availableParallelism() });
  if (version.highWaterMark === null) throw new Error('the batch run published no high-water mark');
  console.error(`serving bench: archived ${archived.archived} events; batch run ${version.runId} in ${(version.durationMs / 1000).toFixed(1)} s`);
  await ingest(items.slice(cut));
  const speed = await (await startSpeedLayer({ log, store, dataDir, once: true, idleTimeoutMs: IDLE_MS })).done;
  console.error(`serving bench: speed layer applied ${speed.events} events (${speed.late} late)`);
  return version.highWaterMark;
}

/** One answer before the load: 30 windows, batch rows up to the high-water mark, speed rows after, both with purchases. */
async function checkAnswer(url: string, hwm: number): Promise<void> {
  const res = await fetch(url);
  const body = (await res.json()) as { highWaterMark: number | null; rows?: Array<{ window_end: number; purchases: number; source: string }> };
  if (res.status !== 200 || !body.rows) throw new Error(`GET ${url} answered ${res.status}: ${JSON.stringify(body).slice(0, 500)}`);
  const rows = body.rows;
  if (rows.length !== WINDOWS) throw new Error(`expected ${WINDOWS} rows, got ${rows.length}`);
  if (body.highWaterMark !== hwm) throw new Error(`the answer's high-water mark is ${body.highWaterMark}, the batch run's ${hwm}`);
  const batch = rows.filter((r) => r.source === 'batch');
  const speed = rows.filter((r) => r.source === 'speed');
  if (batch.length === 0 || speed.length === 0 || batch.length + speed.length !== rows.length) {
    throw new Error(`expected batch and speed rows only, both present; got sources ${JSON.stringify(rows.map((r) => r.source))}`);
  }
  if (rows.some((r) => (r.source === 'batch') !== r.window_end <= hwm)) throw new Error('rows are not split at the high-water mark');
  if (!batch.some((r) => r.purchases > 0) || !speed.some((r) => r.purchases > 0)) throw new Error('a layer served only empty windows');
  console.error(`serving bench: the answer merges ${batch.length} batch and ${speed.length} speed rows`);
}

function runLoad(job: LoadJob): Promise<LoadResult> {
  // Node 20 does not run a worker's TypeScript entry through tsx, so a JS stub registers it first.
  const entry = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(entry, { eval: true, workerData: job });
  return new Promise((resolve, reject) => {
    worker.once('message', (m: LoadResult) => resolve(m));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the load worker exited with ${code}`)));
  });
}

/** The worker: autocannon for the warm-up, then the measured run, latencies of 2xx answers kept at full resolution. */
async function load({ url, connections, durationS, warmupS }: LoadJob): Promise<void> {
  // autocannon's own histogram has 1 ms resolution: too coarse against a 5 ms goal.
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  await autocannon({ url, connections, duration: warmupS });
  const latencies: number[] = [];
  const run = autocannon({ url, connections, duration: durationS });
  run.on('response', (_client, status, _bytes, ms) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const r = await run;
  const sorted = Float64Array.from(latencies).sort();
  const at = (p: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
  parentPort!.postMessage({
    p50_ms: round(at(50)),
    p99_ms: round(at(99)),
    req_per_s: Math.round(r['2xx'] / r.duration),
    requests: r.totalCompletedRequests,
    seconds: r.duration,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
  } satisfies LoadResult);
}

function summary(r: LoadResult): string {
  return `${r.requests} requests in ${r.seconds} s, ${r.req_per_s} req/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx`;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
