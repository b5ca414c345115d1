import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { archiveRoot } from '@lambda/shared';
import { writeFileAtomic } from './files.ts';

/**
 * The archive's own record of how far it has read the log: the single source of truth for resuming
 * (the consumer group's committed offsets only follow it, for monitoring). Written atomically after
 * every flush, once that flush's files are durable and visible.
 */
export interface ArchiveProgress {
  version: 1;
  /** Per log partition: the next offset to archive. Every record below it is in a committed file or the DLQ. */
  nextOffsets: Record<string, number>;
  /** Per log partition: records archived and records dead-lettered so far. */
  archived: Record<string, number>;
  deadLettered: Record<string, number>;
  updatedAt: string;
}

export function progressFile(dataDir: string): string {
  return path.join(archiveRoot(dataDir), '_state', 'events-progress.json');
}

export function emptyProgress(): ArchiveProgress {
  return { version: 1, nextOffsets: {}, archived: {}, deadLettered: {}, updatedAt: new Date(0).toISOString() };
}

export async function readProgress(dataDir: string): Promise<ArchiveProgress> {
  let text: string;
  try {
    text = await readFile(progressFile(dataDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyProgress();
    throw err;
  }
  const parsed = JSON.parse(text) as ArchiveProgress;
  if (parsed.version !== 1) throw new Error(`${progressFile(dataDir)}: unsupported version ${String(parsed.version)}`);
  return parsed;
}

export async function writeProgress(dataDir: string, progress: ArchiveProgress): Promise<void> {
  const file = progressFile(dataDir);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify(progress, null, 2)}\n`);
}

export function nextOffsetsOf(progress: ArchiveProgress): Map<number, number> {
  return new Map(Object.entries(progress.nextOffsets).map(([p, o]) => [Number(p), o]));
}
