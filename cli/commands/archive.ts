import type { Command } from 'commander';
import { createLogger, loadConfig } from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import { startArchiver, type ArchiverStats } from '@lambda/batch-layer';
import {
  DEFAULT_FLUSH_INTERVAL_MS,
  DEFAULT_FLUSH_RECORDS,
} from '@lambda/batch-layer/archive/archiver';
import { positiveInt } from '../options.ts';

export function registerArchive(program: Command): void {
  program
    .command('archive')
    .description(
      'Archive the `events` topic (consumer group `archiver`) to immutable Parquet files under ' +
        '$DATA_DIR/archive/events/dt=YYYY-MM-DD/hour=HH/. Runs until SIGTERM/SIGINT, then flushes and exits.',
    )
    .option('--once', 'drain the log up to its current end, flush, commit and exit')
    .option('--flush-records <n>', 'flush once this many records are buffered', positiveInt, DEFAULT_FLUSH_RECORDS)
    .option('--flush-interval <ms>', 'flush buffered records at least this often', positiveInt, DEFAULT_FLUSH_INTERVAL_MS)
    .action(async (opts: { once?: boolean; flushRecords: number; flushInterval: number }) => {
      const config = loadConfig();
      const logger = createLogger('archiver', config.logLevel);
      const log = await openEventLog(config, { clientId: 'archiver' });
      const started = performance.now();
      let lastFiles = 0;
      let lastCaughtUp = -1;
      try {
        const archiver = await startArchiver({
          log,
          dataDir: config.dataDir,
          once: opts.once === true,
          flushRecords: opts.flushRecords,
          flushIntervalMs: opts.flushInterval,
          logger,
          onFlush: (stats) => {
            report(stats, started, stats.files - lastFiles);
            lastFiles = stats.files;
          },
          onCaughtUp: (stats, buffered) => {
            if (stats.records === lastCaughtUp) return;
            lastCaughtUp = stats.records;
            process.stderr.write(`archive: caught up with the log; ${buffered} records await the next flush\n`);
          },
        });
        const stop = () => void archiver.stop().catch(() => undefined);
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
        const stats = await archiver.done;
        process.stderr.write(`archive: done: ${summary(stats, started)}\n`);
      } finally {
        await log.close();
      }
    });
}

function report(stats: ArchiverStats, started: number, newFiles: number): void {
  process.stderr.write(`archive: flush ${stats.flushes}: +${newFiles} files; ${summary(stats, started)}\n`);
}

function summary(stats: ArchiverStats, started: number): string {
  const seconds = (performance.now() - started) / 1000;
  const rate = seconds > 0 ? Math.round(stats.records / seconds) : 0;
  return (
    `${stats.archived} archived, ${stats.deadLettered} dead-lettered, ${stats.files} files, ` +
    `${rate} records/s over ${seconds.toFixed(1)} s`
  );
}
