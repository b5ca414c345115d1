import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { batchDir } from './paths.ts';

/**
 * One batch run (or rollback) at a time per data dir, across processes: a proper-lockfile lock
 * (`batch/run.lock`, a directory whose mtime the holder refreshes every UPDATE_MS). A lock not
 * refreshed for STALE_MS is stale and taken over, so a SIGKILLed run never blocks forever. Beside
 * it, `run.owner` names the holder; when that process is gone (same host), a new run waits for
 * the lock to go stale instead of reporting it held.
 */
const STALE_MS = 5_000;
const UPDATE_MS = 1_000;

export class BatchLockedError extends Error {
  constructor(readonly owner: LockOwner | null) {
    super(
      `another batch run holds the lock (${owner ? `pid ${owner.pid} on ${owner.host}, ${owner.what} since ${owner.since}` : 'owner unknown'})`,
    );
  }
}

export interface LockOwner {
  pid: number;
  host: string;
  what: string;
  since: string;
}

export interface BatchLock {
  /** Rejects when the lock was lost (not refreshed in time): the holder must not publish. */
  readonly compromised: Promise<never>;
  check(): void;
  release(): Promise<void>;
}

function lockPaths(dataDir: string) {
  const dir = batchDir(dataDir);
  return { dir, lock: path.join(dir, 'run.lock'), owner: path.join(dir, 'run.owner') };
}

export async function acquireBatchLock(dataDir: string, what: string): Promise<BatchLock> {
  const p = lockPaths(dataDir);
  await mkdir(p.dir, { recursive: true });
  let lost: Error | null = null;
  let onLost: (err: Error) => void = () => undefined;
  const compromised = new Promise<never>((_, reject) => (onLost = reject));
  compromised.catch(() => undefined);
  const options = {
    lockfilePath: p.lock,
    stale: STALE_MS,
    update: UPDATE_MS,
    realpath: false,
    onCompromised: (err: Error) => {
      lost = new Error(`the batch lock was lost: ${err.message}`);
      onLost(lost);
    },
  };
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(p.dir, options);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    const owner = await readOwner(p.owner);
    if (!owner || owner.host !== os.hostname() || isAlive(owner.pid)) throw new BatchLockedError(owner);
    // The holder is dead: its lock stops being refreshed, and goes stale within STALE_MS.
    const refreshed = (await stat(p.lock).catch(() => null))?.mtimeMs ?? 0;
    await sleep(Math.max(0, STALE_MS - (Date.now() - refreshed)) + 100);
    try {
      release = await lockfile.lock(p.dir, options);
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code === 'ELOCKED') throw new BatchLockedError(await readOwner(p.owner));
      throw again;
    }
  }
  const owner: LockOwner = { pid: process.pid, host: os.hostname(), what, since: new Date().toISOString() };
  await writeFile(p.owner, `${JSON.stringify(owner)}\n`);
  return {
    compromised,
    check() {
      if (lost) throw lost;
    },
    async release() {
      await rm(p.owner, { force: true });
      await release().catch(() => undefined);
    },
  };
}

/** Runs `fn` holding the lock; throws BatchLockedError when another run holds it. */
export async function withBatchLock<T>(dataDir: string, what: string, fn: (lock: BatchLock) => Promise<T>): Promise<T> {
  const lock = await acquireBatchLock(dataDir, what);
  try {
    return await Promise.race([fn(lock), lock.compromised]);
  } finally {
    await lock.release();
  }
}

async function readOwner(file: string): Promise<LockOwner | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as LockOwner;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
