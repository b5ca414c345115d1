import { Option, type Command } from 'commander';
import { loadConfig } from '@lambda/shared';
import {
  BatchLockedError,
  DEFAULT_CRON,
  DEFAULT_KEEP_VERSIONS,
  DEFAULT_TIMEZONE,
  readManifest,
  rollbackBatch,
  runBatch,
  scheduleBatch,
  type BatchManifest,
  type BatchRunResult,
  type BatchVersion,
} from '@lambda/batch-layer';
import { isoTime, nonNegativeInt, positiveInt } from '../options.ts';

interface RunFlags {
  views?: string[];
  from?: number;
  to?: number;
  keep: number;
  safetyLagMs?: number;
  threads?: number;
  json?: boolean;
}

const keepOption = () =>
  new Option('--keep <n>', 'versions to keep after publishing, the new one included')
    .env('BATCH_KEEP_VERSIONS')
    .argParser(positiveInt)
    .default(DEFAULT_KEEP_VERSIONS);

function addRunOptions(cmd: Command): Command {
  return cmd
    .option('--views <names>', 'comma-separated views to recompute (default: all; the others are carried over)', (v) =>
      v.split(',').map((s) => s.trim()).filter(Boolean),
    )
    .addOption(keepOption())
    .option('--safety-lag-ms <ms>', 'subtracted from the archive watermark for the high-water mark (default: the largest view watermark lag)', nonNegativeInt)
    .option('--threads <n>', 'DuckDB threads (default: all cores)', positiveInt)
    .option('--json', 'machine-readable output: one JSON object on stdout');
}

export function registerBatch(program: Command): void {
  const batch = program
    .command('batch')
    .description('The batch layer: recompute the views from the Parquet archive into versioned Parquet under $DATA_DIR/batch/.');

  addRunOptions(
    batch
      .command('run')
      .description(
        'Recompute all (or --views) views from a consistent archive snapshot and publish a new version. ' +
          'With --from/--to (a backfill) only windows inside [from, to) are recomputed; every other row and ' +
          'the high-water mark are carried over from the current version. If another run holds the lock, ' +
          'says so and exits 0 without doing anything.',
      )
      .option('--from <iso>', 'backfill: first instant of the range (windows starting at or after it)', isoTime)
      .option('--to <iso>', 'backfill: end of the range, exclusive (windows ending at or before it)', isoTime),
  ).action(async (flags: RunFlags) => {
    const dataDir = loadConfig().dataDir;
    try {
      const result = await runBatch({ dataDir, ...runOptions(flags), onProgress: (l) => process.stderr.write(`batch: ${l}\n`) });
      printRun(result, flags.json);
    } catch (err) {
      if (!(err instanceof BatchLockedError)) throw err;
      reportLocked(err, flags.json);
    }
  });

  addRunOptions(
    batch
      .command('schedule')
      .description(
        `Run \`batch run\` on a cron schedule (default "${DEFAULT_CRON}", ${DEFAULT_TIMEZONE}) until SIGINT/SIGTERM, ` +
          'which stop the schedule after the run in progress. A failed run is logged and the schedule goes on.',
      )
      .option('--cron <expr>', 'cron expression (5 or 6 fields)', DEFAULT_CRON)
      .option('--tz <zone>', 'IANA time zone of the cron expression', DEFAULT_TIMEZONE),
  ).action(async (flags: RunFlags & { cron: string; tz: string }) => {
    const dataDir = loadConfig().dataDir;
    const log = (l: string) => process.stderr.write(`batch schedule: ${l}\n`);
    const schedule = scheduleBatch({
      cron: flags.cron,
      timezone: flags.tz,
      tick: async () => {
        log('starting a run');
        try {
          printRun(await runBatch({ dataDir, ...runOptions(flags), onProgress: (l) => log(l) }), flags.json);
        } catch (err) {
          if (!(err instanceof BatchLockedError)) throw err;
          reportLocked(err, flags.json);
        }
      },
      onError: (err) => log(`run failed: ${err instanceof Error ? err.message : String(err)}; the schedule goes on`),
      onSkip: () => log('a run is still in progress; skipping this tick'),
    });
    log(`scheduled "${flags.cron}" (${flags.tz}); stop with SIGINT/SIGTERM`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    log(`${signal}: stopping (waiting for a run in progress)`);
    await schedule.stop();
    log('stopped');
  });

  batch
    .command('rollback')
    .description('Make an earlier kept version current (default: the one before the current) by publishing a new manifest.')
    .option('--to <run-id>', 'the run id of a kept version (see `lambda batch status`)')
    .option('--json', 'machine-readable output')
    .action(async (flags: { to?: string; json?: boolean }) => {
      const r = await rollbackBatch(loadConfig().dataDir, flags.to);
      if (flags.json) console.log(JSON.stringify({ rolledBackFrom: r.from, current: r.to }));
      else console.log(`batch rollback: current version is now ${r.to.runId} (was ${r.from}); high-water mark ${iso(r.to.highWaterMark)}`);
    });

  batch
    .command('status')
    .alias('versions')
    .description('Print the current version (run id, high-water mark, input, rows per view) and the kept versions.')
    .option('--json', 'print the manifest as JSON')
    .action(async (flags: { json?: boolean }) => {
      const manifest = await readManifest(loadConfig().dataDir);
      if (flags.json) console.log(JSON.stringify(manifest));
      else console.log(manifest ? describeManifest(manifest) : 'no batch version published yet; run `lambda batch run`');
    });
}

function runOptions(flags: RunFlags) {
  return {
    views: flags.views,
    from: flags.from,
    to: flags.to,
    keep: flags.keep,
    safetyLagMs: flags.safetyLagMs,
    threads: flags.threads,
  };
}

function printRun(r: BatchRunResult, json: boolean | undefined): void {
  if (json) {
    console.log(JSON.stringify({ ...r.version, kept: r.kept, removed: r.removed }));
    return;
  }
  const v = r.version;
  const rows = Object.values(v.views).reduce((n, x) => n + x.rows, 0);
  console.log(
    `batch run ${v.runId}: ${v.kind}, ${Object.keys(v.views).length} views, ${rows} rows from ${v.input.rows} archived events ` +
      `in ${v.input.files} files; high-water mark ${iso(v.highWaterMark)}; ${(v.durationMs / 1000).toFixed(1)} s; ` +
      `${r.kept.length} versions kept`,
  );
}

function reportLocked(err: BatchLockedError, json: boolean | undefined): void {
  if (json) console.log(JSON.stringify({ skipped: true, reason: err.message }));
  else console.log(`batch run: ${err.message}; nothing done`);
}

function describeManifest(m: BatchManifest): string {
  const c = m.current;
  const lines = [
    `current: ${c.runId} (${c.kind}${c.range ? ` ${iso(c.range.from)} .. ${iso(c.range.to)}` : ''}), published ${m.publishedAt}`,
    `high-water mark: ${iso(c.highWaterMark)} (windows ending at or before it are served from batch)`,
    `input: ${c.input.rows} archived events in ${c.input.files} files`,
    `duration: ${(c.durationMs / 1000).toFixed(1)} s (${c.startedAt} .. ${c.finishedAt})`,
    'views:',
    ...Object.entries(c.views).map(([name, v]) => `  ${name}: ${v.rows} rows${v.computed ? '' : ' (carried over)'}`),
    'kept versions (newest first):',
    ...m.versions.map((v) => `  ${v.runId === c.runId ? '*' : ' '} ${describeVersion(v)}`),
  ];
  return lines.join('\n');
}

function describeVersion(v: BatchVersion): string {
  return `${v.runId}  ${v.kind.padEnd(8)}  hwm ${iso(v.highWaterMark)}  ${v.input.rows} events`;
}

function iso(t: number | null): string {
  return t === null ? 'none' : new Date(t).toISOString();
}
