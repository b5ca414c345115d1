import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../archive/files.ts';
import { manifestFile } from './paths.ts';

/** One published version of the batch views. */
export interface BatchVersion {
  runId: string;
  /** `full`: every window recomputed; `backfill`: only windows inside `range`, the rest carried over. */
  kind: 'full' | 'backfill';
  range: { from: number | null; to: number | null } | null;
  /** The version rows were carried over from (backfills and partial `--views` runs), if any. */
  basedOn: string | null;
  /**
   * Epoch ms: every window with end <= this is complete in this version (min over its views; see
   * high-water-mark.ts). Null when the archive held no events.
   */
  highWaterMark: number | null;
  safetyLagMs: number;
  input: { files: number; rows: number; nextOffsets: Record<string, number> };
  views: Record<string, ViewVersion>;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
}

export interface ViewVersion {
  /** File name inside the version directory. */
  file: string;
  rows: number;
  /** Recomputed by this run (false: carried over unchanged from `basedOn`). */
  computed: boolean;
  highWaterMark: number | null;
}

export interface BatchManifest {
  version: 1;
  /** The version serving and `lambda query` read. */
  current: BatchVersion;
  /** Kept versions, newest run first; the current one is among them. */
  versions: BatchVersion[];
  publishedAt: string;
}

export async function readManifest(dataDir: string): Promise<BatchManifest | null> {
  let text: string;
  try {
    text = await readFile(manifestFile(dataDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const parsed = JSON.parse(text) as BatchManifest;
  if (parsed.version !== 1) throw new Error(`${manifestFile(dataDir)}: unsupported manifest version ${String(parsed.version)}`);
  return parsed;
}

/** Publishes a manifest: temp file, fsync, rename, fsync of the directory. */
export async function publishManifest(dataDir: string, current: BatchVersion, versions: BatchVersion[]): Promise<BatchManifest> {
  const manifest: BatchManifest = { version: 1, current, versions, publishedAt: new Date().toISOString() };
  await writeFileAtomic(manifestFile(dataDir), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
