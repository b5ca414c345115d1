export { BatchLockedError, acquireBatchLock, withBatchLock, type BatchLock, type LockOwner } from './lock.ts';
export { highWaterMarkOf, defaultSafetyLagMs } from './high-water-mark.ts';
export { readManifest, type BatchManifest, type BatchVersion, type ViewVersion } from './manifest.ts';
export { batchDir, manifestFile, versionDir, versionsDir } from './paths.ts';
export { readBatchView, type BatchRow, type BatchViewAnswer, type BatchViewQuery } from './read.ts';
export { BatchViewCache, MAX_CACHED_ROWS } from './view-cache.ts';
export { RollbackRefusedError, rollbackBatch, type RollbackResult } from './rollback.ts';
export { BackfillWithoutVersionError, DEFAULT_KEEP_VERSIONS, runBatch, type BatchRunOptions, type BatchRunResult } from './run.ts';
export { DEFAULT_CRON, DEFAULT_TIMEZONE, scheduleBatch, type BatchSchedule } from './schedule.ts';
