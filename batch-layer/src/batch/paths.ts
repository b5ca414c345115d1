import path from 'node:path';

/**
 * The batch layer's files under the data dir:
 * `batch/manifest.json` (the published state), `batch/versions/<run-id>/<view>.parquet` (one
 * directory per version, complete before it is named), `batch/run.lock` (the run lock).
 */
export function batchDir(dataDir: string): string {
  return path.join(dataDir, 'batch');
}

export function versionsDir(dataDir: string): string {
  return path.join(batchDir(dataDir), 'versions');
}

export function versionDir(dataDir: string, runId: string): string {
  return path.join(versionsDir(dataDir), runId);
}

/** A version being written; the prefix keeps it apart from published run ids. */
export function stagingDir(dataDir: string, runId: string): string {
  return path.join(versionsDir(dataDir), `${STAGING_PREFIX}${runId}`);
}

export const STAGING_PREFIX = '.staging-';

export function manifestFile(dataDir: string): string {
  return path.join(batchDir(dataDir), 'manifest.json');
}

export function viewFileName(view: string): string {
  return `${view}.parquet`;
}
