import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Option, type Command } from 'commander';
import { ingestEvents, loadConfig, type Config } from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import {
  WORKLOAD_DEFAULTS,
  Workload,
  itemLine,
  itemRaw,
  workloadSpanMs,
  type WorkloadItem,
  type WorkloadOptions,
  type WorkloadTruth,
} from '@lambda/shared/generator/workload';
import { emitWorkload } from '@lambda/shared/generator/emit';
import { isoTime, nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber, share } from '../options.ts';
import { Progress, stopOnSignals } from '../progress.ts';

interface GenerateFlags {
  events?: number;
  duration?: number;
  rate: number;
  seed: number;
  users: number;
  products: number;
  lateShare: number;
  lateDelayMs: number;
  duplicateShare: number;
  malformedShare: number;
  loginBurstsPerHour: number;
  errorSpike: boolean;
  start?: number;
  to: 'log' | 'http' | 'file';
  out: string;
  url?: string;
  batch: number;
  realtime?: boolean;
}

/** Where generated items go; each write resolves once its items are written (and, for the log and HTTP, validated). */
interface Sink {
  write(items: WorkloadItem[]): Promise<{ accepted: number; rejected: number }>;
  close(): Promise<void>;
}

const DEFAULT_EVENTS = 10_000;

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description(
      'Generate the e-commerce workload (page views, clicks, impressions, purchases, errors with a spike on ' +
        'one product, failed-login bursts, profile updates), seeded and deterministic, with settable shares of ' +
        'late, duplicate and malformed events. Writes to the log (malformed events go to events.dlq), to the ' +
        'HTTP ingest endpoint, or to an NDJSON file.',
    )
    .option('--events <n>', `number of items to emit, duplicates and malformed included (default ${DEFAULT_EVENTS})`, nonNegativeInt)
    .option('--duration <s>', 'or: seconds of event time to cover, at --rate', positiveNumber)
    .option('--rate <r>', 'events per second of event time', positiveNumber, WORKLOAD_DEFAULTS.rate)
    .option('--seed <s>', 'seed: the same seed and options give the same stream', nonNegativeInt, WORKLOAD_DEFAULTS.seed)
    .option('--users <n>', 'number of distinct users', positiveInt, WORKLOAD_DEFAULTS.users)
    .option('--products <n>', 'number of distinct products', positiveInt, WORKLOAD_DEFAULTS.products)
    .option('--late-share <f>', 'share of valid events delivered late', share, WORKLOAD_DEFAULTS.lateShare)
    .option('--late-delay-ms <ms>', 'mean delivery delay of a late event (each is 0.5-1.5x this)', nonNegativeInt, WORKLOAD_DEFAULTS.lateDelayMs)
    .option('--duplicate-share <f>', 'share of valid events sent twice with the same event_id', share, WORKLOAD_DEFAULTS.duplicateShare)
    .option('--malformed-share <f>', 'share of invalid items (missing field, wrong type, bad type name, non-integer amount, far-future time, unparsable)', share, WORKLOAD_DEFAULTS.malformedShare)
    .option('--login-bursts-per-hour <n>', 'users per hour of event time who fail to log in 6-10 times within 10 minutes', nonNegativeNumber, WORKLOAD_DEFAULTS.loginBurstsPerHour)
    .option('--no-error-spike', 'no error spike (default: one product errs on 30% of its views for a while, mid-stream)')
    .option('--start <iso>', 'event time of the first event (default: now with --realtime, else so that the stream ends now)', isoTime)
    .addOption(new Option('--to <sink>', 'where the items go').choices(['log', 'http', 'file']).default('log'))
    .option('--out <file>', 'NDJSON file for --to file ("-" for stdout)', '-')
    .option('--url <url>', 'ingest endpoint for --to http (default http://$HOST:$PORT/v1/events)')
    .option('--batch <n>', 'items per write', positiveInt, 500)
    .option('--realtime', 'emit at --rate against the wall clock (live demos); default is as fast as possible')
    .action(async (flags: GenerateFlags) => {
      const config = loadConfig();
      const workload = new Workload(workloadOptions(flags));
      const sink = await openSink(flags, config);
      const signals = stopOnSignals('generate');
      try {
        await run(workload, sink, flags, signals);
      } finally {
        signals.dispose();
        await sink.close();
      }
    });
}

function workloadOptions(f: GenerateFlags): WorkloadOptions {
  if (f.events !== undefined && f.duration !== undefined) throw new Error('use either --events or --duration, not both');
  const extent =
    f.duration !== undefined ? { durationMs: Math.round(f.duration * 1000) } : { count: f.events ?? DEFAULT_EVENTS };
  // Replayed as fast as possible, the stream ends now, so no honest event lies in the future.
  const startTime = f.start ?? (f.realtime ? Date.now() : Date.now() - workloadSpanMs({ ...extent, rate: f.rate }));
  return {
    ...extent,
    seed: f.seed,
    rate: f.rate,
    startTime,
    users: f.users,
    products: f.products,
    lateShare: f.lateShare,
    lateDelayMs: f.lateDelayMs,
    duplicateShare: f.duplicateShare,
    malformedShare: f.malformedShare,
    loginBurstsPerHour: f.loginBurstsPerHour,
    ...(f.errorSpike ? {} : { errorSpike: null }),
  };
}

async function run(
  workload: Workload,
  sink: Sink,
  flags: GenerateFlags,
  signals: { readonly stopped: boolean },
): Promise<void> {
  const progress = new Progress('generate');
  const total = workload.options.count;
  const counts = { accepted: 0, rejected: 0 };
  let written = 0;
  await emitWorkload(
    workload,
    async (batch) => {
      const r = await sink.write(batch);
      counts.accepted += r.accepted;
      counts.rejected += r.rejected;
      written += batch.length;
      const done = written;
      progress.tick(
        () =>
          `${done} items${total ? ` (${((100 * done) / total).toFixed(1)}%)` : ''}, ` +
          `${progress.rate(done)} items/s; ${describeCounts(flags, counts)}`,
      );
    },
    { batch: flags.batch, realtime: flags.realtime === true, shouldStop: () => signals.stopped },
  );
  const t = workload.truth;
  process.stderr.write(
    `generate: done: ${t.items} items (${describeTruth(t)}) in ${progress.seconds.toFixed(1)} s, ` +
      `${progress.rate(t.items)} items/s; ${describeCounts(flags, counts)}\n`,
  );
}

function describeTruth(t: WorkloadTruth): string {
  return `${t.valid} valid, ${t.duplicates} duplicates, ${t.late} late, ${t.malformed} malformed`;
}

function describeCounts(flags: GenerateFlags, c: { accepted: number; rejected: number }): string {
  if (flags.to === 'file') return `written to ${flags.out === '-' ? 'stdout' : flags.out}`;
  return `${c.accepted} accepted, ${c.rejected} rejected (to events.dlq)`;
}

async function openSink(flags: GenerateFlags, config: Config): Promise<Sink> {
  switch (flags.to) {
    case 'log':
      return logSink(config);
    case 'http':
      return httpSink(flags.url ?? `http://${config.host}:${config.port}/v1/events`);
    case 'file':
      return fileSink(flags.out);
  }
}

async function logSink(config: Config): Promise<Sink> {
  const log = await openEventLog(config, { forProducing: true });
  return {
    async write(items) {
      const r = await ingestEvents(log, items.map(itemRaw), { source: 'generator', maxFutureSkewMs: config.maxFutureSkewMs });
      return { accepted: r.accepted, rejected: r.rejected.length };
    },
    close: () => log.close(),
  };
}

function httpSink(url: string): Sink {
  return {
    async write(items) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: items.map(itemLine).join('\n'),
      });
      const body = (await res.json().catch(() => null)) as { accepted?: number; rejected?: unknown[]; message?: string } | null;
      // 422 is an answer too: every event of the batch was invalid and went to the DLQ.
      if ((res.status !== 200 && res.status !== 422) || typeof body?.accepted !== 'number') {
        throw new Error(`POST ${url} answered ${res.status}: ${body?.message ?? res.statusText}`);
      }
      return { accepted: body.accepted, rejected: body.rejected?.length ?? 0 };
    },
    close: async () => undefined,
  };
}

function fileSink(out: string): Sink {
  const stream = out === '-' ? process.stdout : createWriteStream(out);
  return {
    async write(items) {
      let text = '';
      for (const item of items) text += itemLine(item) + '\n';
      if (!stream.write(text)) await once(stream, 'drain');
      return { accepted: 0, rejected: 0 };
    },
    async close() {
      if (stream === process.stdout) return;
      stream.end();
      await once(stream, 'finish');
    },
  };
}
