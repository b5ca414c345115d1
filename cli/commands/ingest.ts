import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { ingestEvents, loadConfig, type RawEvent, type Rejection } from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import { parseLine } from '@lambda/serving-layer/ndjson';
import { positiveInt } from '../options.ts';
import { Progress, stopOnSignals } from '../progress.ts';

/** How many rejection reasons the summary prints; the rest are in events.dlq. */
const SHOWN_REJECTIONS = 5;

export function registerIngest(program: Command): void {
  program
    .command('ingest')
    .description(
      'Ingest an NDJSON file (one event per line) into the log: valid events go to `events`, invalid ones ' +
        '(and lines that are not JSON) to `events.dlq` with the reason. Prints the counts and the first ' +
        'rejection reasons with their line numbers.',
    )
    .argument('<file>', 'NDJSON file, or - for stdin')
    .option('--batch <n>', 'lines per write to the log', positiveInt, 1000)
    .action(async (file: string, flags: { batch: number }) => {
      const config = loadConfig();
      const input = file === '-' ? process.stdin : createReadStream(file);
      // Fail on a missing file before the log is opened.
      if (file !== '-') await new Promise((resolve, reject) => input.once('open', resolve).once('error', reject));
      const log = await openEventLog(config, { forProducing: true });
      const signals = stopOnSignals('ingest');
      const progress = new Progress('ingest');
      let accepted = 0;
      let events = 0;
      const rejected: Array<Rejection & { line: number }> = [];
      let rejectedCount = 0;
      let raws: RawEvent[] = [];
      let lines: number[] = [];
      const flush = async () => {
        const r = await ingestEvents(log, raws, { source: 'file', maxFutureSkewMs: config.maxFutureSkewMs });
        accepted += r.accepted;
        events += raws.length;
        rejectedCount += r.rejected.length;
        for (const { index, field, reason } of r.rejected.slice(0, SHOWN_REJECTIONS - rejected.length)) {
          rejected.push({ line: lines[index]!, field, reason });
        }
        raws = [];
        lines = [];
        progress.tick(() => `${events} events, ${progress.rate(events)} events/s; ${accepted} accepted, ${rejectedCount} rejected`);
      };
      try {
        const reader = createInterface({ input, crlfDelay: Infinity });
        let lineNo = 0;
        for await (const line of reader) {
          lineNo++;
          if (line.trim() === '') continue;
          raws.push(parseLine(line));
          lines.push(lineNo);
          if (raws.length >= flags.batch) {
            await flush();
            if (signals.stopped) break;
          }
        }
        reader.close();
        if (raws.length > 0) await flush();
      } finally {
        signals.dispose();
        await log.close();
      }
      const source = file === '-' ? 'stdin' : file;
      console.log(
        `ingest: ${events} events from ${source}: ${accepted} accepted, ${rejectedCount} rejected (to events.dlq) ` +
          `in ${progress.seconds.toFixed(1)} s${signals.stopped ? ' (stopped by signal)' : ''}`,
      );
      for (const r of rejected) console.log(`  line ${r.line}: ${r.field}: ${r.reason}`);
      if (rejectedCount > rejected.length) console.log(`  ... and ${rejectedCount - rejected.length} more in events.dlq`);
    });
}
