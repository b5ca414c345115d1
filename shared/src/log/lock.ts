import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';

/** Another live process holds the lock (the writer of a log dir, or a group's member). */
export class LogLockedError extends Error {}

/** A holder's lock goes stale this long after its process died (its mtime stops being refreshed). */
const STALE_MS = 6000;

export interface LockOptions {
  /**
   * How long to wait for a held lock: long enough, by default, to take over the lock of a process
   * that was killed (it turns stale), so that a restart after kill -9 just works.
   */
  waitMs?: number;
  onCompromised: (err: Error) => void;
}

export async function acquireLock(lockPath: string, what: string, opts: LockOptions): Promise<() => Promise<void>> {
  await mkdir(path.dirname(lockPath), { recursive: true });
  const waitMs = opts.waitMs ?? STALE_MS + 1500;
  const stepMs = 250;
  try {
    return await lockfile.lock(lockPath, {
      realpath: false,
      lockfilePath: lockPath,
      stale: STALE_MS,
      update: STALE_MS / 4,
      retries: { retries: Math.ceil(waitMs / stepMs), minTimeout: stepMs, maxTimeout: stepMs, factor: 1 },
      onCompromised: opts.onCompromised,
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new LogLockedError(`${what} is in use by another process (lock ${lockPath})`);
    }
    throw e;
  }
}
