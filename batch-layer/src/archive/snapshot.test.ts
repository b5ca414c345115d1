import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBInstance } from '@duckdb/node-api';
import { ARCHIVE_COLUMNS, DEFAULT_TOPICS, loadConfig } from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import { startArchiver } from './archiver.ts';
import { archiveFileName, listArchiveFiles } from './files.ts';
import { createArchiveView, readArchiveSnapshot } from './snapshot.ts';
import { archiveFacts, expectedFromLog, produceWorkload, workload } from './test-support.ts';

test('the snapshot sees only committed files, and a restart removes the files of an unrecorded flush', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'archive-snapshot-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const log = await openEventLog(loadConfig({ DATA_DIR: dataDir }));
  t.after(() => log.close());
  await log.ensureTopics(DEFAULT_TOPICS);
  const w = workload(11, 400, 6);
  await produceWorkload(log, w);
  await (await startArchiver({ log, dataDir, once: true, flushRecords: 150 })).done;
  const expected = await expectedFromLog(log, w);

  const committed = await readArchiveSnapshot(dataDir);
  assert.equal(committed.files.length, (await listArchiveFiles(dataDir)).length);
  assert.deepEqual(committed.nextOffsets, await log.endOffsets('events'));

  // What a crash between the rename of a flush's files and its progress write leaves behind:
  // a complete, readable file beyond the recorded offset, and a temp file.
  const victim = committed.files[0]!;
  const next = committed.nextOffsets.get(victim.partition)!;
  const orphan = path.join(path.dirname(victim.path), archiveFileName(victim.partition, next, next + 9));
  await copyFile(victim.path, orphan);
  const temp = path.join(path.dirname(victim.path), `${archiveFileName(victim.partition, next + 10, next + 19)}.tmp`);
  await writeFile(temp, 'partial');

  const glob = await archiveFacts(dataDir);
  assert.ok(glob.count > expected.count, 'the planted orphan is visible through the raw glob');
  const snapshot = await readArchiveSnapshot(dataDir);
  assert.deepEqual(snapshot.files, committed.files);
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  t.after(() => {
    conn.closeSync();
    instance.closeSync();
  });
  await createArchiveView(conn, snapshot, 'events_snapshot');
  const viewFacts = await archiveFacts(dataDir, { conn, name: 'events_snapshot' });
  assert.equal(viewFacts.count, expected.count);
  assert.equal(viewFacts.checksum, expected.checksum);

  // On start the archiver removes both, and the archive is exact again.
  await (await startArchiver({ log, dataDir, once: true })).done;
  const names = (await listArchiveFiles(dataDir)).map((f) => f.path);
  assert.ok(!names.includes(orphan) && !names.includes(temp));
  const after = await archiveFacts(dataDir);
  assert.equal(after.count, expected.count);
  assert.equal(after.checksum, expected.checksum);
});

test('an empty snapshot gives an empty view with the archive columns', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'archive-snapshot-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const snapshot = await readArchiveSnapshot(dataDir);
  assert.equal(snapshot.files.length, 0);
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  t.after(() => {
    conn.closeSync();
    instance.closeSync();
  });
  await createArchiveView(conn, snapshot, 'empty_events');
  const count = (await conn.runAndReadAll('SELECT count(*) FROM empty_events')).getRows();
  assert.equal(Number(count[0]![0]), 0);
  const described = (await conn.runAndReadAll('DESCRIBE empty_events')).getRows();
  assert.deepEqual(
    described.map((r) => [r[0], r[1]]),
    ARCHIVE_COLUMNS.map(([n, type]) => [n, type === 'TIMESTAMPTZ' ? 'TIMESTAMP WITH TIME ZONE' : type]),
  );
});
