import path from 'node:path';
import { copyFile, link, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { fsyncPath } from '../archive/files.ts';
import type { BatchManifest } from './manifest.ts';
import { versionsDir } from './paths.ts';

/**
 * Removes what is in `batch/versions/` but not kept by the manifest: staging directories of
 * crashed runs, a version directory renamed into place by a run killed before it published, and
 * versions dropped from the kept list. Call only while holding the batch lock.
 */
export async function removeUnreferencedVersions(dataDir: string, manifest: BatchManifest | null): Promise<string[]> {
  const root = versionsDir(dataDir);
  const kept = new Set(manifest?.versions.map((v) => v.runId) ?? []);
  let names: string[];
  try {
    names = await readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const removed = names.filter((n) => !kept.has(n));
  for (const n of removed) await rm(path.join(root, n), { recursive: true, force: true });
  if (removed.length > 0) await fsyncPath(root);
  return removed;
}

export async function prepareStaging(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await fsyncPath(path.dirname(dir));
}

/** Names a complete staging directory as its version: every file is already durable. */
export async function publishStaging(staging: string, final: string): Promise<void> {
  await fsyncPath(staging);
  await rename(staging, final);
  await fsyncPath(path.dirname(final));
}

/** A carried-over view file: versions are immutable, so a hard link is a copy. */
export async function carryOver(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
    await fsyncPath(to);
  }
}

