import { stat } from 'node:fs/promises';
import { keyColumnOf, viewColumns, type ViewDefinition } from '@lambda/shared';
import { readManifest, type BatchManifest } from './manifest.ts';
import { manifestFile } from './paths.ts';
import { readBatchView, type BatchRow, type BatchViewAnswer, type BatchViewQuery } from './read.ts';

/** Views with more rows than this are queried in DuckDB each time instead of held in memory. */
export const MAX_CACHED_ROWS = 1_000_000;
/** Answers to distinct ranges kept per view. */
const MAX_RANGES_PER_VIEW = 256;

/**
 * The batch views for a long-running reader (the serving layer). A published version never
 * changes, so each view's rows are read from its Parquet file once per run id and then answered
 * from memory, sorted by window_start: a range is a binary search, not a DuckDB instance per
 * request. A new current version (a run, a rollback) is noticed by the manifest file changing,
 * checked at most every `recheckMs`: a new run is served that long after it is published, at most.
 */
export class BatchViewCache {
  private manifest: { stamp: string; value: BatchManifest | null; checkedAt: number } | null = null;
  private readonly rows = new Map<string, Promise<{ all: BatchRow[]; ranges: Map<string, BatchRow[]> }>>();

  constructor(
    private readonly dataDir: string,
    private readonly recheckMs = 250,
  ) {}

  /** The published manifest, re-read only when its file changed (publishing renames a new one in). */
  async current(): Promise<BatchManifest | null> {
    const now = performance.now();
    if (this.manifest && now - this.manifest.checkedAt < this.recheckMs) return this.manifest.value;
    const s = await stat(manifestFile(this.dataDir)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    const stamp = s ? `${s.ino}:${s.mtimeMs}:${s.size}` : 'none';
    if (this.manifest?.stamp !== stamp) this.manifest = { stamp, value: s ? await readManifest(this.dataDir) : null, checkedAt: now };
    this.manifest.checkedAt = now;
    return this.manifest.value;
  }

  /** The same answer as `readBatchView`, from memory where the view is small enough. */
  async read(view: ViewDefinition, query: BatchViewQuery = {}): Promise<BatchViewAnswer> {
    const manifest = await this.current();
    const entry = manifest?.current.views[view.name];
    if (!manifest || !entry || entry.rows > MAX_CACHED_ROWS) return readBatchView(this.dataDir, view.name, query, [view]);
    const keyColumn = keyColumnOf(view);
    if (query.key !== undefined && !keyColumn) throw new Error(`view "${view.name}" has no key; --key does not apply`);
    const runId = manifest.current.runId;
    const { all, ranges } = await this.load(runId, view);
    // The same query gets the same array back, so what readers derive from it can be kept too.
    const id = `${query.from}|${query.to}|${query.key}`;
    let rows = ranges.get(id);
    if (!rows) {
      if (ranges.size >= MAX_RANGES_PER_VIEW) ranges.delete(ranges.keys().next().value!);
      ranges.set(id, (rows = inRange(all, query, keyColumn)));
    }
    return {
      view: view.name,
      runId,
      highWaterMark: manifest.current.highWaterMark,
      columns: viewColumns(view).map((c) => c.name),
      keyColumn,
      rows,
    };
  }

  private load(runId: string, view: ViewDefinition): Promise<{ all: BatchRow[]; ranges: Map<string, BatchRow[]> }> {
    const id = `${runId}/${view.name}`;
    let rows = this.rows.get(id);
    if (!rows) {
      // Only the current version is worth keeping: drop what earlier versions loaded.
      for (const k of this.rows.keys()) if (!k.startsWith(`${runId}/`)) this.rows.delete(k);
      rows = readBatchView(this.dataDir, view.name, {}, [view]).then((a) => ({ all: a.rows, ranges: new Map() }));
      rows.catch(() => this.rows.delete(id));
      this.rows.set(id, rows);
    }
    return rows;
  }
}

/** Rows (ordered by window_start) of windows inside `[from, to)`, of one key if given. */
function inRange(rows: BatchRow[], query: BatchViewQuery, keyColumn: string | null): BatchRow[] {
  const from = query.from ?? -Infinity;
  const to = query.to ?? Infinity;
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Number(rows[mid]!.window_start) < from) lo = mid + 1;
    else hi = mid;
  }
  const out: BatchRow[] = [];
  // A window starting at or after `to` cannot end by it.
  for (let i = lo; i < rows.length && Number(rows[i]!.window_start) < to; i++) {
    const r = rows[i]!;
    if (Number(r.window_end) <= to && (query.key === undefined || r[keyColumn!] === query.key)) out.push(r);
  }
  return out;
}
