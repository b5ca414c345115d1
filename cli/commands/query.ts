import { Option, type Command } from 'commander';
import { VIEWS, findView, keyColumnOf, loadConfig, openStateStore, viewColumns, type Config, type ViewDefinition, type ViewRow } from '@lambda/shared';
import { readBatchView } from '@lambda/batch-layer';
import { readLateCounts, readSpeedView } from '@lambda/speed-layer';
import { isoTime } from '../options.ts';

interface QueryFlags {
  from?: number;
  to?: number;
  key?: string;
  layer: 'batch' | 'speed';
  json?: boolean;
}

/** One layer's answer: its rows and what the reader needs to judge them. */
interface Answer {
  view: string;
  layer: QueryFlags['layer'];
  columns: string[];
  rows: ViewRow[];
  /** Facts about the answer: the batch run id and high-water mark, or the speed layer's late counts. */
  about: Record<string, unknown>;
}

export function registerQuery(program: Command): void {
  program
    .command('query')
    .description(
      `Print a view's rows: windows lying inside [--from, --to), optionally of one key. Views: ${VIEWS.map((v) => v.name).join(', ')}. ` +
        '--layer batch reads the current batch version; --layer speed reads the speed layer\'s state store ' +
        '(Redis with REDIS_URL, else the memory back end\'s latest checkpoint in $DATA_DIR/speed).',
    )
    .argument('<view>', 'view name')
    .option('--from <iso>', 'only windows starting at or after this time', isoTime)
    .option('--to <iso>', 'only windows ending at or before this time', isoTime)
    .option('--key <key>', "only rows of this key (the view's key column)")
    .addOption(new Option('--layer <layer>', 'which layer answers').choices(['batch', 'speed']).default('batch'))
    .option('--json', 'one JSON object: view, layer, facts about the answer, rows')
    .action(async (name: string, flags: QueryFlags) => {
      const view = findView(name);
      const config = loadConfig();
      const range = { from: flags.from, to: flags.to, key: flags.key };
      const answer = flags.layer === 'batch' ? await batchAnswer(config, view, range) : await speedAnswer(config, view, range);
      if (flags.json) {
        console.log(JSON.stringify({ view: answer.view, layer: answer.layer, ...answer.about, rows: answer.rows.map(jsonRow) }));
        return;
      }
      const facts = Object.entries(answer.about).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join('; ');
      process.stderr.write(`${answer.view}: ${answer.rows.length} rows from the ${answer.layer} layer; ${facts}\n`);
      console.log(table(answer));
    });
}

type Range = { from?: number | undefined; to?: number | undefined; key?: string | undefined };

async function batchAnswer(config: Config, view: ViewDefinition, range: Range): Promise<Answer> {
  const a = await readBatchView(config.dataDir, view.name, range);
  const hwm = a.highWaterMark === null ? null : new Date(a.highWaterMark).toISOString();
  return { view: a.view, layer: 'batch', columns: a.columns, rows: a.rows, about: { runId: a.runId, highWaterMark: hwm } };
}

async function speedAnswer(config: Config, view: ViewDefinition, range: Range): Promise<Answer> {
  const keyColumn = keyColumnOf(view);
  if (range.key !== undefined && !keyColumn) throw new Error(`view "${view.name}" has no key; --key does not apply`);
  const store = await openStateStore(config, { readOnly: true });
  try {
    const rows = await readSpeedView(store, view, range);
    const columns = viewColumns(view).map((c) => c.name);
    return { view: view.name, layer: 'speed', columns, rows, about: { lateEvents: await readLateCounts(store, view.name) } };
  } finally {
    await store.close();
  }
}

/** Integers as JSON numbers when exact, as strings beyond 2^53 (money sums can get there). */
function jsonRow(row: ViewRow): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v]),
  );
}

function table(answer: Answer): string {
  const cell = (col: string, v: ViewRow[string]) =>
    v === null ? '' : (col === 'window_start' || col === 'window_end') ? new Date(Number(v)).toISOString() : typeof v === 'number' ? String(Number(v.toFixed(6))) : String(v);
  const cells = answer.rows.map((r) => answer.columns.map((c) => cell(c, r[c] ?? null)));
  const widths = answer.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (xs: string[]) => xs.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(answer.columns), ...cells.map(line)].join('\n');
}
