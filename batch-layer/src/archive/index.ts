export { ARCHIVER_FETCH_BYTES, ARCHIVER_GROUP, startArchiver, type ArchiverOptions, type ArchiverStats, type RunningArchiver } from './archiver.ts';
export { listArchiveFiles, archiveFileName, type ArchiveFile } from './files.ts';
export { progressFile, readProgress, type ArchiveProgress } from './progress.ts';
export { createArchiveView, readArchiveSnapshot, type ArchiveSnapshot } from './snapshot.ts';
