import type { Command } from 'commander';
import { createLogger, loadConfig, openStateStore } from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import {
  DEFAULT_DEDUPE_HORIZON_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_BATCH_RECORDS,
  DEFAULT_RETENTION_MARGIN_MS,
  startSpeedLayer,
} from '@lambda/speed-layer';
import { DEFAULT_CHECKPOINT_INTERVAL_MS } from '@lambda/shared/state/memory-store';
import { nonNegativeInt, positiveInt } from '../options.ts';

interface SpeedOptions {
  once?: boolean;
  batchRecords: number;
  dedupeHorizon: number;
  retentionMargin: number;
  idleTimeout: number;
  checkpointInterval: number;
  keyPrefix?: string;
}

export function registerSpeed(program: Command): void {
  program
    .command('speed')
    .description(
      'Run the speed layer: consume `events` (consumer group `speed`), keep every view\'s recent windows in the ' +
        'state store (Redis with REDIS_URL, else memory with checkpoints in $DATA_DIR/speed), exactly once. ' +
        'Runs until SIGTERM/SIGINT, then finishes the batch in flight, commits and exits.',
    )
    .option('--once', 'process the log up to its current end, commit and exit')
    .option('--batch-records <n>', 'records per processed batch (at most)', positiveInt, DEFAULT_MAX_BATCH_RECORDS)
    .option('--dedupe-horizon <ms>', "how long, in the partition's event time, an event_id is at least remembered for deduplication (at most twice that)", positiveInt, DEFAULT_DEDUPE_HORIZON_MS)
    .option('--retention-margin <ms>', 'keep windows this long before the batch high-water mark (or the watermark)', nonNegativeInt, DEFAULT_RETENTION_MARGIN_MS)
    .option('--idle-timeout <ms>', 'a partition without records this long stops holding the watermark back', positiveInt, DEFAULT_IDLE_TIMEOUT_MS)
    .option('--checkpoint-interval <ms>', 'memory back end: checkpoint this often', positiveInt, DEFAULT_CHECKPOINT_INTERVAL_MS)
    .option('--key-prefix <prefix>', 'Redis back end: key prefix (default lambda:)')
    .action(async (opts: SpeedOptions) => {
      const config = loadConfig();
      const logger = createLogger('speed', config.logLevel);
      const log = await openEventLog(config, { logger });
      const store = await openStateStore(config, {
        checkpointIntervalMs: opts.checkpointInterval,
        ...(opts.keyPrefix !== undefined && { keyPrefix: opts.keyPrefix }),
      });
      const started = performance.now();
      try {
        const speed = await startSpeedLayer({
          log,
          store,
          dataDir: config.dataDir,
          once: opts.once === true,
          maxBatchRecords: opts.batchRecords,
          dedupeHorizonMs: opts.dedupeHorizon,
          retentionMarginMs: opts.retentionMargin,
          idleTimeoutMs: opts.idleTimeout,
          logger,
        });
        const stop = () => void speed.stop().catch((err: unknown) => logger.error({ err }, 'speed layer stop failed'));
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
        const stats = await speed.done;
        const seconds = (performance.now() - started) / 1000;
        process.stderr.write(
          `speed: done: ${stats.records} records in ${stats.batches} batches (${stats.events} applied, ${stats.duplicates} duplicates, ` +
            `${stats.invalid} invalid, ${stats.late} late) in ${seconds.toFixed(1)} s\n`,
        );
      } finally {
        await store.close();
        await log.close();
      }
    });
}
