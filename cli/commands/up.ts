import type { Command } from 'commander';
import {
  Workload,
  createLogger,
  ingestEvents,
  itemRaw,
  loadConfig,
  openStateStore,
  workloadSpanMs,
  type Logger,
} from '@lambda/shared';
import { emitWorkload } from '@lambda/shared/generator/emit';
import { openEventLog } from '@lambda/shared/log/open';
import {
  BatchLockedError,
  runBatch,
  scheduleBatch,
  startArchiver,
  type BatchSchedule,
  type RunningArchiver,
} from '@lambda/batch-layer';
import { startSpeedLayer, type SpeedLayer } from '@lambda/speed-layer';
import { buildApp } from '@lambda/serving-layer';
import { nonNegativeInt, positiveNumber, share } from '../options.ts';
import { adminActions, batchSource, speedSource } from '../sources.ts';

interface UpFlags {
  generate: boolean;
  rate: number;
  lateShare: number;
  lateDelayMs: number;
  seed: number;
  archiveIntervalMs: number;
  batchCron: string;
}

/** A generator that never runs out within any demo: a year of event time. */
const LIVE_STREAM_SPAN_MS = 365 * 86_400_000;

export function registerUp(program: Command): void {
  program
    .command('up')
    .description(
      'Run the whole platform in one process: the HTTP API (ingest and health), a live demo stream from ' +
        'the generator (with some late events), the archiver, the speed layer and a frequent batch schedule. ' +
        'Uses the embedded log and the memory state store in $DATA_DIR unless KAFKA_BROKERS and REDIS_URL are ' +
        'set. Stops cleanly on Ctrl-C or SIGTERM.',
    )
    .option('--no-generate', 'do not run the demo generator (only what producers POST arrives)')
    .option('--rate <r>', 'demo stream: events per second', positiveNumber, 50)
    .option('--late-share <f>', 'demo stream: share of events delivered late', share, 0.05)
    .option('--late-delay-ms <ms>', 'demo stream: mean delay of a late event', nonNegativeInt, 90_000)
    .option('--seed <s>', 'demo stream: seed', nonNegativeInt, Date.now() % 1_000_000)
    .option('--archive-interval-ms <ms>', 'archiver: flush at least this often', nonNegativeInt, 10_000)
    // Frequent, so that a visitor sees batch rows replace speed rows within minutes; production runs nightly.
    .option('--batch-cron <expr>', 'batch recompute schedule (cron, UTC)', '*/2 * * * *')
    .action(async (flags: UpFlags) => {
      const config = loadConfig();
      const logger = createLogger('lambda', config.logLevel);
      const log = await openEventLog(config, { logger, forProducing: true, clientId: 'up' });
      const store = await openStateStore(config);
      const app = buildApp({
        config,
        log,
        logger,
        batch: batchSource(config.dataDir),
        speed: speedSource(store, { log }),
        admin: adminActions(config.dataDir),
      });
      let archiver: RunningArchiver | null = null;
      let speed: SpeedLayer | null = null;
      let schedule: BatchSchedule | null = null;
      let stopping = false;
      let generator: Promise<void> = Promise.resolve();
      const shutdown = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'stopping: generator, batch schedule, speed layer, archiver (final flush), API');
        const report = (what: string) => (err: unknown) => logger.error({ err }, `${what} failed to stop cleanly`);
        await generator.catch(report('generator'));
        await schedule?.stop().catch(report('batch schedule'));
        await speed?.stop().catch(report('speed layer'));
        await archiver?.stop().catch(report('archiver'));
        await app.close();
        await store.close();
        await log.close();
        logger.info('stopped');
      };
      const failed = (what: string) => (err: unknown) => {
        if (stopping) return;
        logger.error({ err }, `${what} stopped with an error; shutting down`);
        void shutdown(`${what} failure`).then(() => process.exit(1));
      };
      try {
        archiver = await startArchiver({ log, dataDir: config.dataDir, flushIntervalMs: flags.archiveIntervalMs, logger });
        speed = await startSpeedLayer({ log, store, dataDir: config.dataDir, logger });
        schedule = scheduleBatch({
          cron: flags.batchCron,
          tick: async () => {
            const r = await runBatch({ dataDir: config.dataDir, onProgress: (line) => logger.debug(line) });
            logger.info({ runId: r.version.runId, highWaterMark: r.version.highWaterMark }, 'batch run published');
          },
          onError: (err) => {
            if (err instanceof BatchLockedError) logger.warn(err.message);
            else logger.error({ err }, 'batch run failed; the schedule goes on');
          },
          onSkip: () => logger.warn('a batch run is still in progress; skipping this tick'),
        });
        await app.listen({ host: config.host, port: config.port });
      } catch (err) {
        await shutdown('startup failure');
        throw err;
      }
      archiver.done.catch(failed('archiver'));
      speed.done.catch(failed('speed layer'));
      const address = `http://${config.host}:${(app.server.address() as { port: number }).port}`;
      if (flags.generate) generator = runDemoStream(flags, () => stopping, log, config.maxFutureSkewMs, logger);
      printWhereToLook(address, config.dataDir, log.kind);
      await new Promise<void>((resolve) => {
        const onSignal = (signal: NodeJS.Signals) => void shutdown(signal).then(resolve);
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
      });
    });
}

async function runDemoStream(
  flags: UpFlags,
  stopped: () => boolean,
  log: Parameters<typeof ingestEvents>[0],
  maxFutureSkewMs: number,
  logger: Logger,
): Promise<void> {
  const workload = new Workload({
    seed: flags.seed,
    durationMs: LIVE_STREAM_SPAN_MS,
    rate: flags.rate,
    startTime: Date.now(),
    users: 500,
    products: 50,
    lateShare: flags.lateShare,
    lateDelayMs: flags.lateDelayMs,
    duplicateShare: 0.01,
    malformedShare: 0.005,
    loginBurstsPerHour: 30,
  });
  logger.info({ rate: flags.rate, spanMs: workloadSpanMs({ durationMs: LIVE_STREAM_SPAN_MS, rate: flags.rate }) }, 'demo stream started');
  await emitWorkload(
    workload,
    async (items) => {
      await ingestEvents(log, items.map(itemRaw), { source: 'generator', maxFutureSkewMs });
    },
    { batch: 100, realtime: true, shouldStop: stopped },
  );
}

function printWhereToLook(address: string, dataDir: string, logKind: string): void {
  process.stdout.write(
    [
      `lambda up: the platform is running (log: ${logKind}, data: ${dataDir})`,
      `  dashboard    ${address}/`,
      `  health       ${address}/health`,
      `  views        ${address}/v1/views/revenue_per_minute   (merged; ?layer=batch or ?layer=speed for one layer)`,
      `  drift        ${address}/v1/drift`,
      `  alerts       ${address}/v1/alerts`,
      `  API docs     ${address}/docs`,
      `  metrics      ${address}/metrics`,
      `  ingest       curl -X POST ${address}/v1/events -H 'content-type: application/json' -d '[...]'`,
      `  archive      ${dataDir}/archive/events/dt=YYYY-MM-DD/hour=HH/*.parquet`,
      '  on the CLI   npx lambda query revenue_per_minute --layer merged',
      '  Ctrl-C stops it cleanly.',
      '',
    ].join('\n'),
  );
}
