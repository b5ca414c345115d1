import { Option, type Command } from 'commander';
import { VIEWS, findView, keyColumnOf, loadConfig, openStateStore, viewColumns, type Config, type StateStore, type ViewDefinition, type ViewRow } from '@lambda/shared';
import { readBatchView } from '@lambda/batch-layer';
import { readLateCounts, readSpeedView } from '@lambda/speed-layer';
import { answerView, jsonRow, resolveRange } from '@lambda/serving-layer';
import { isoTime } from '../options.ts';
import { batchSource, speedSource } from '../sources.ts';

interface QueryFlags {
  from?: number;
  to?: number;
  key?: string;
  layer: 'batch' | 'speed' | 'merged';
  json?: boolean;
}

/** One layer's answer: its rows and what the reader needs to judge them. */
interface Answer {
  view: string;
  layer: QueryFlags['layer'];
  columns: string[];
  rows: ViewRow[];
  /** Facts about the answer: the batch run id and high-water mark, the speed layer's late counts. */
  about: Record<string, unknown>;
}

export function registerQuery(program: Command): void {
  program
    .command('query')
    .description(
      `Print a view's rows: windows lying inside [--from, --to), optionally of one key. Views: ${VIEWS.map((v) => v.name).join(', ')}. ` +
        '--layer batch (the default, what runbooks check) reads the current batch version; --layer speed reads the speed ' +
        "layer's state store (Redis with REDIS_URL, else the memory back end's latest checkpoint in $DATA_DIR/speed); " +
        '--layer merged answers as GET /v1/views/:name does: windows up to the batch high-water mark from batch, later ones ' +
        'from speed, each row naming its source, over the last hour unless --from/--to say otherwise.',
    )
    .argument('<view>', 'view name')
    .option('--from <iso>', 'only windows starting at or after this time', isoTime)
    .option('--to <iso>', 'only windows ending at or before this time', isoTime)
    .option('--key <key>', "only rows of this key (the view's key column)")
    .addOption(new Option('--layer <layer>', 'which layer answers').choices(['batch', 'speed', 'merged']).default('batch'))
    .option('--json', 'one JSON object: view, layer, facts about the answer, rows')
    .action(async (name: string, flags: QueryFlags) => {
      const view = findView(name);
      const config = loadConfig();
      const range = { from: flags.from, to: flags.to, key: flags.key };
      if (range.key !== undefined && !keyColumnOf(view)) throw new Error(`view "${view.name}" has no key; --key does not apply`);
      const answer =
        flags.layer === 'batch' ? await batchAnswer(config, view, range) : await withSpeedStore(config, (store) => (flags.layer === 'speed' ? speedAnswer(store, view, range) : mergedAnswer(config, store, view, range)));
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

async function withSpeedStore<T>(config: Config, read: (store: StateStore) => Promise<T>): Promise<T> {
  const store = await openStateStore(config, { readOnly: true });
  try {
    return await read(store);
  } finally {
    await store.close();
  }
}

async function speedAnswer(store: StateStore, view: ViewDefinition, range: Range): Promise<Answer> {
  const rows = await readSpeedView(store, view, range);
  const columns = viewColumns(view).map((c) => c.name);
  return { view: view.name, layer: 'speed', columns, rows, about: { lateEvents: await readLateCounts(store, view.name) } };
}

/** The serving layer's own answer, so the command line and HTTP cannot disagree. */
async function mergedAnswer(config: Config, store: StateStore, view: ViewDefinition, range: Range): Promise<Answer> {
  const sources = { batch: batchSource(config.dataDir), speed: speedSource(store) };
  const params = { ...(range.from !== undefined && { from: String(range.from) }), ...(range.to !== undefined && { to: String(range.to) }) };
  const a = await answerView(sources, view, 'merged', resolveRange(view, params, Date.now()), range.key);
  const { rows, layer: _layer, view: _view, ...about } = a;
  return { view: view.name, layer: 'merged', columns: [...viewColumns(view).map((c) => c.name), 'source'], rows, about };
}

function table(answer: Answer): string {
  const cell = (col: string, v: ViewRow[string]) =>
    v === null ? '' : (col === 'window_start' || col === 'window_end') ? new Date(Number(v)).toISOString() : typeof v === 'number' ? String(Number(v.toFixed(6))) : String(v);
  const cells = answer.rows.map((r) => answer.columns.map((c) => cell(c, r[c] ?? null)));
  const widths = answer.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (xs: string[]) => xs.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(answer.columns), ...cells.map(line)].join('\n');
}
