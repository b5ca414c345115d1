import { readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The batch high-water mark, read defensively from `$DATA_DIR/batch/manifest.json`
 * (`current.highWaterMark`, epoch ms): null when there is no manifest or no mark yet.
 */
export async function readBatchHighWaterMark(dataDir: string): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(path.join(dataDir, 'batch', 'manifest.json'), 'utf8');
  } catch {
    return null;
  }
  try {
    const hwm = (JSON.parse(text) as { current?: { highWaterMark?: unknown } }).current?.highWaterMark;
    return typeof hwm === 'number' && Number.isFinite(hwm) ? hwm : null;
  } catch {
    return null;
  }
}

/**
 * Windows ending at or before this are evicted: the batch layer serves them (its high-water mark),
 * or, without a batch run, they are far behind the watermark. The margin keeps a stretch the two
 * layers both hold, for the drift report.
 */
export function evictionCutoff(hwm: number | null, watermark: number | null, marginMs: number): number {
  const base = hwm ?? watermark;
  return base === null ? -Infinity : base - marginMs;
}
