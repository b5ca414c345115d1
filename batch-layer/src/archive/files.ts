import { open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { eventsArchiveDir } from '@lambda/shared';

/**
 * Archive file names derive from the log partition and the offset range of the flush that wrote
 * them, so a retried write of the same range produces the same file. While being written a file
 * carries a `.tmp` suffix, which the public `*.parquet` glob never matches.
 */
const FILE_NAME = /^p(\d+)-(\d{20})-(\d{20})\.parquet(\.tmp)?$/;
export const TEMP_SUFFIX = '.tmp';

export interface ArchiveFile {
  /** Absolute path. */
  path: string;
  dt: string;
  hour: string;
  partition: number;
  firstOffset: number;
  lastOffset: number;
}

export function archiveFileName(partition: number, firstOffset: number, lastOffset: number): string {
  return `p${partition}-${pad(firstOffset)}-${pad(lastOffset)}.parquet`;
}

function pad(offset: number): string {
  return String(offset).padStart(20, '0');
}

/** Every archive file and leftover temp file, found by walking the Hive directories. */
export async function listArchiveFiles(
  dataDir: string,
): Promise<Array<ArchiveFile & { temp: boolean }>> {
  const root = eventsArchiveDir(dataDir);
  const out: Array<ArchiveFile & { temp: boolean }> = [];
  for (const dtDir of await readdirOrEmpty(root)) {
    if (!dtDir.startsWith('dt=')) continue;
    for (const hourDir of await readdirOrEmpty(path.join(root, dtDir))) {
      if (!hourDir.startsWith('hour=')) continue;
      const dir = path.join(root, dtDir, hourDir);
      for (const name of await readdirOrEmpty(dir)) {
        const m = FILE_NAME.exec(name);
        if (!m) continue;
        out.push({
          path: path.join(dir, name),
          dt: dtDir.slice(3),
          hour: hourDir.slice(5),
          partition: Number(m[1]),
          firstOffset: Number(m[2]),
          lastOffset: Number(m[3]),
          temp: m[4] !== undefined,
        });
      }
    }
  }
  return out.sort((a, b) => a.partition - b.partition || a.firstOffset - b.firstOffset || a.path.localeCompare(b.path));
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Makes a written temp file durable, then visible under its final name. */
export async function publish(tempPath: string, finalPath: string): Promise<void> {
  await fsyncPath(tempPath);
  await rename(tempPath, finalPath);
}

/** Writes a small file atomically: temp file, fsync, rename, fsync of the directory. */
export async function writeFileAtomic(file: string, content: string): Promise<void> {
  const temp = `${file}${TEMP_SUFFIX}`;
  const fh = await open(temp, 'w');
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(temp, file);
  await fsyncPath(path.dirname(file));
}

/**
 * Removes what a crash can leave behind for the given partitions: temp files, and files written by
 * a flush whose progress was never recorded (first offset at or beyond the recorded next offset).
 * Returns the removed paths.
 */
export async function removeOrphans(
  dataDir: string,
  nextOffsets: ReadonlyMap<number, number>,
  partitions: readonly number[],
): Promise<string[]> {
  const wanted = new Set(partitions);
  const orphans = (await listArchiveFiles(dataDir)).filter(
    (f) => wanted.has(f.partition) && (f.temp || f.firstOffset >= (nextOffsets.get(f.partition) ?? 0)),
  );
  const dirs = new Set<string>();
  for (const f of orphans) {
    await rm(f.path, { force: true });
    dirs.add(path.dirname(f.path));
  }
  for (const dir of dirs) await fsyncPath(dir);
  return orphans.map((f) => f.path);
}
