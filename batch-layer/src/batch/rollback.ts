import { access } from 'node:fs/promises';
import path from 'node:path';
import { withBatchLock } from './lock.ts';
import { publishManifest, readManifest, type BatchVersion } from './manifest.ts';
import { versionDir } from './paths.ts';
import { removeUnreferencedVersions } from './version-files.ts';

/** The rollback cannot be done as asked (no such version, nothing older): the operator can act on it. */
export class RollbackRefusedError extends Error {}

export interface RollbackResult {
  from: string;
  to: BatchVersion;
}

/**
 * Makes a kept version current again (default: the one run just before the current one) by
 * publishing a manifest that names it; the kept list is unchanged, so a rollback can itself be
 * undone with `--to`.
 */
export async function rollbackBatch(dataDir: string, to?: string): Promise<RollbackResult> {
  return withBatchLock(dataDir, 'batch rollback', async (lock) => {
    const manifest = await readManifest(dataDir);
    if (!manifest) throw new RollbackRefusedError('no batch version has been published yet: nothing to roll back');
    await removeUnreferencedVersions(dataDir, manifest);
    const current = manifest.current;
    const kept = manifest.versions.map((v) => v.runId).join(', ');
    let target: BatchVersion | undefined;
    if (to !== undefined) {
      target = manifest.versions.find((v) => v.runId === to);
      if (!target) throw new RollbackRefusedError(`unknown or no longer kept version "${to}"; kept versions: ${kept}`);
      if (target.runId === current.runId) throw new RollbackRefusedError(`version ${to} is already current`);
    } else {
      target = manifest.versions.find((v) => v.runId < current.runId);
      if (!target) throw new RollbackRefusedError(`no kept version older than the current ${current.runId}; kept versions: ${kept}`);
    }
    for (const v of Object.values(target.views)) await access(path.join(versionDir(dataDir, target.runId), v.file));
    lock.check();
    await publishManifest(dataDir, target, manifest.versions);
    return { from: current.runId, to: target };
  });
}
