import { Option, type Command } from 'commander';
import { VIEWS, findView, loadConfig } from '@lambda/shared';
import { readBatchView, type BatchRow, type BatchViewAnswer } from '@lambda/batch-layer';
import { isoTime } from '../options.ts';

interface QueryFlags {
  from?: number;
  to?: number;
  key?: string;
  layer: 'batch';
  json?: boolean;
}

export function registerQuery(program: Command): void {
  program
    .command('query')
    .description(
      `Print a view's rows: windows lying inside [--from, --to), optionally of one key. Views: ${VIEWS.map((v) => v.name).join(', ')}. ` +
        'Only the batch layer exists so far (the current batch version); the speed and merged layers come with the serving layer.',
    )
    .argument('<view>', 'view name')
    .option('--from <iso>', 'only windows starting at or after this time', isoTime)
    .option('--to <iso>', 'only windows ending at or before this time', isoTime)
    .option('--key <key>', "only rows of this key (the view's key column)")
    .addOption(new Option('--layer <layer>', 'which layer answers').choices(['batch']).default('batch'))
    .option('--json', 'one JSON object: view, layer, run id, high-water mark, rows')
    .action(async (name: string, flags: QueryFlags) => {
      const view = findView(name);
      const answer = await readBatchView(loadConfig().dataDir, view.name, { from: flags.from, to: flags.to, key: flags.key });
      if (flags.json) {
        console.log(JSON.stringify({ ...answer, layer: flags.layer, rows: answer.rows.map(jsonRow) }));
        return;
      }
      process.stderr.write(
        `${answer.view}: ${answer.rows.length} rows from batch version ${answer.runId}; high-water mark ${
          answer.highWaterMark === null ? 'none' : new Date(answer.highWaterMark).toISOString()
        }\n`,
      );
      console.log(table(answer));
    });
}

/** Integers as JSON numbers when exact, as strings beyond 2^53 (money sums can get there). */
function jsonRow(row: BatchRow): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v]),
  );
}

function table(answer: BatchViewAnswer): string {
  const cell = (col: string, v: BatchRow[string]) =>
    v === null ? '' : (col === 'window_start' || col === 'window_end') ? new Date(Number(v)).toISOString() : typeof v === 'number' ? String(Number(v.toFixed(6))) : String(v);
  const cells = answer.rows.map((r) => answer.columns.map((c) => cell(c, r[c] ?? null)));
  const widths = answer.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (xs: string[]) => xs.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(answer.columns), ...cells.map(line)].join('\n');
}
