import type { Command } from 'commander';
import { loadConfig } from '@lambda/shared';
import { quietOptions, type DemoOptions, type StreamSettings } from '../demo/common.ts';
import { CODE_DRIFT_DEFAULTS, runCodeDrift, type CodeDriftSettings } from '../demo/code-drift.ts';
import { LATE_DATA_DEFAULTS, runLateData, type LateDataSettings } from '../demo/late-data.ts';
import { PROCESSING_TIME_DEFAULTS, runProcessingTime, type ProcessingTimeSettings } from '../demo/processing-time.ts';
import { REPROCESS_DEFAULTS, runReprocess, type ReprocessSettings } from '../demo/reprocess.ts';
import { nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber, share } from '../options.ts';

/**
 * `lambda demo <scenario>`: teaching scenarios of Lambda drift. Each runs the platform in process
 * on a fresh data dir, drives a seeded, scripted stream, narrates, and ends with a summary of the
 * drift it produced and why (`--json`: one JSON line of the figures on stdout).
 */

interface CommonFlags {
  fast?: boolean;
  serve?: boolean;
  port?: number;
  host?: string;
  pauseS: number;
  dataDir?: string;
  keepData?: boolean;
  json?: boolean;
}

type Flags<S> = CommonFlags & S;

export function registerDemo(program: Command): void {
  const demo = program
    .command('demo')
    .description(
      'Teaching scenarios: watch Lambda drift happen, see its cause named, and see the batch layer correct it. ' +
        'Each runs the whole platform in this process (embedded log, memory state store, DuckDB) on a fresh data dir, ' +
        'replays a seeded stream, narrates, and prints a summary. `--fast` finishes in well under a minute.',
    )
    .addHelpText(
      'after',
      '\nScenarios:\n' +
        '  late-data        phones deliver late; the speed layer drops late purchases; drift counts them; the batch run corrects history\n' +
        '  processing-time  the speed layer on processing time (the chapter\'s most common mistake): revenue shifts between minutes\n' +
        '  code-drift       a hand-written speed path with one small divergence drifts from batch; the compiled one does not\n' +
        '  reprocess        a buggy view definition, the fix and a backfill of the affected range, a bad version rolled back\n' +
        '\nExamples:\n' +
        '  lambda demo late-data --fast\n' +
        '  lambda demo processing-time --serve --port 8080   # paced, with the dashboard at http://127.0.0.1:8080/\n' +
        '  lambda demo code-drift --fast --json | tail -1\n',
    );

  scenario(demo, 'late-data', 'A share of phones go offline and deliver late; the speed layer drops late purchases (policy `drop`); the drift report counts them; the next batch run corrects the history.', LATE_DATA_DEFAULTS)
    .option('--late-share <f>', 'share of events from phones that were offline', share, LATE_DATA_DEFAULTS.lateShare)
    .option('--late-delay-ms <ms>', 'mean delivery delay of a late event (each is 0.5-1.5x this)', nonNegativeInt, LATE_DATA_DEFAULTS.lateDelayMs)
    .option('--duplicate-share <f>', 'share of events sent twice (retries)', share, LATE_DATA_DEFAULTS.duplicateShare)
    .option('--step-minutes <n>', 'deliver the stream in steps of this much arrival time', positiveNumber, LATE_DATA_DEFAULTS.stepMinutes)
    .action(async (flags: Flags<LateDataSettings>) => {
      await runScenario(flags, (opts) => runLateData(pick(flags, LATE_DATA_DEFAULTS), opts));
    });

  scenario(demo, 'processing-time', 'The speed layer switched to processing time for revenue_per_minute while events arrive with delays: revenue shifts between minutes, and the drift shows where.', PROCESSING_TIME_DEFAULTS)
    .option('--late-share <f>', 'share of events that arrive delayed', share, PROCESSING_TIME_DEFAULTS.lateShare)
    .option('--late-delay-ms <ms>', 'mean delivery delay of a delayed event (each is 0.5-1.5x this)', nonNegativeInt, PROCESSING_TIME_DEFAULTS.lateDelayMs)
    .option('--duplicate-share <f>', 'share of events sent twice (retries)', share, PROCESSING_TIME_DEFAULTS.duplicateShare)
    .action(async (flags: Flags<ProcessingTimeSettings>) => {
      await runScenario(flags, (opts) => runProcessingTime(pick(flags, PROCESSING_TIME_DEFAULTS), opts));
    });

  scenario(demo, 'code-drift', 'A hand-written revenue-per-minute speed path with one small divergence from the definition runs beside the compiled one over the same log: it drifts from batch, the compiled one does not.', CODE_DRIFT_DEFAULTS)
    .option('--late-share <f>', 'share of events delivered late (both paths drop late purchases alike)', share, CODE_DRIFT_DEFAULTS.lateShare)
    .option('--late-delay-ms <ms>', 'mean delivery delay of a late event', nonNegativeInt, CODE_DRIFT_DEFAULTS.lateDelayMs)
    .option('--duplicate-share <f>', 'share of events sent twice with the same event_id (producer retries)', share, CODE_DRIFT_DEFAULTS.duplicateShare)
    .action(async (flags: Flags<CodeDriftSettings>) => {
      await runScenario(flags, (opts) => runCodeDrift(pick(flags, CODE_DRIFT_DEFAULTS), opts));
    });

  scenario(demo, 'reprocess', 'A bug in a view definition is fixed: a batch run with the buggy definition, the fix and a backfill of the affected range, then a bad version published and rolled back.', REPROCESS_DEFAULTS)
    .option('--backfill-minutes <n>', 'length of the range to backfill with the fixed definition (the newest complete minutes)', positiveInt, REPROCESS_DEFAULTS.backfillMinutes)
    .option('--exclude-product <id>', 'the product the buggy filter wrongly excludes (default: the best seller)')
    .action(async (flags: Flags<ReprocessSettings>) => {
      await runScenario(flags, (opts) => runReprocess(pick(flags, REPROCESS_DEFAULTS), opts));
    });
}


/** Every scenario's stream is shaped by these flags; each scenario adds its own. */
function scenario(demo: Command, name: string, description: string, defaults: Pick<StreamSettings, 'minutes' | 'rate' | 'users' | 'products' | 'seed'>): Command {
  return demo
    .command(name)
    .description(description)
    .option('--minutes <n>', 'minutes of event time the stream covers', positiveNumber, defaults.minutes)
    .option('--rate <r>', 'events per second of event time', positiveNumber, defaults.rate)
    .option('--users <n>', 'distinct users', positiveInt, defaults.users)
    .option('--products <n>', 'distinct products', positiveInt, defaults.products)
    .option('--seed <s>', 'seed of the stream', nonNegativeInt, defaults.seed)
    .option('--fast', 'replay as fast as possible, no pauses, no server (unless --serve): well under a minute')
    .option('--serve', 'serve the dashboard and the API while the scenario runs (default without --fast)')
    .option('--no-serve', 'do not start the HTTP server')
    .option('--port <n>', 'HTTP port when serving (default $PORT or 8080)', nonNegativeInt)
    .option('--host <h>', 'HTTP host when serving (default $HOST or 127.0.0.1)')
    .option('--pause-s <s>', 'pause between steps without --fast, to look at the dashboard', nonNegativeNumber, 8)
    .option('--data-dir <dir>', 'run in this (empty or new) data dir and keep it; default a temporary dir, removed at the end')
    .option('--keep-data', 'keep the temporary data dir (its path is printed)')
    .option('--json', 'narrate on stderr and print one JSON line of the summary figures on stdout');
}

/** The scenario's settings from the flags (every setting has a flag with a default). */
function pick<S extends object>(flags: Partial<S>, defaults: S): S {
  const out = { ...defaults };
  for (const k of Object.keys(defaults) as Array<keyof S>) if (flags[k] !== undefined) out[k] = flags[k] as S[keyof S];
  return out;
}

async function runScenario(flags: CommonFlags, run: (opts: DemoOptions) => Promise<{ summary: object }>): Promise<void> {
  const config = loadConfig();
  const fast = flags.fast === true;
  const serve = flags.serve ?? !fast;
  const out = flags.json ? process.stderr : process.stdout;
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = () => stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await run(
      quietOptions({
        fast,
        serve,
        host: flags.host ?? config.host,
        port: flags.port ?? config.port,
        pauseMs: fast ? 0 : Math.round(flags.pauseS * 1000),
        ...(flags.dataDir !== undefined ? { dataDir: flags.dataDir } : {}),
        keepData: flags.keepData === true,
        out,
        ...(fast ? {} : { linger: () => stopped }),
      }),
    );
    if (flags.json) process.stdout.write(`${JSON.stringify(result.summary)}\n`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
