import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBInstance } from '@duckdb/node-api';
import { DEFAULT_TOPICS, loadConfig } from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import { listArchiveFiles } from './files.ts';
import { readProgress } from './progress.ts';
import { archiveFacts, deadLetters, expectedFromLog, produceWorkload, rng, workload } from './test-support.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const lambdaBin = path.join(repoRoot, 'bin', 'lambda.js');

function spawnArchiver(dataDir: string, args: string[]): ChildProcess {
  return spawn(process.execPath, [lambdaBin, 'archive', ...args], {
    cwd: repoRoot,
    env: { ...process.env, DATA_DIR: dataDir, KAFKA_BROKERS: '', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, stderr })));
}

/**
 * Resolves once the child reports its first flush, so a kill lands while it is working, or reports
 * that it caught up: an earlier round may have archived everything, and then no flush ever comes.
 */
function firstFlushOrCaughtUp(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    const onData = (d: Buffer) => {
      if (/flush \d+|caught up/.test(d.toString())) {
        child.stderr?.off('data', onData);
        resolve();
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', () => resolve());
  });
}

/** Every file under a `*.parquet` name must be complete: DuckDB reads each one on its own. */
async function assertEveryVisibleFileReadable(dataDir: string): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    for (const f of await listArchiveFiles(dataDir)) {
      if (f.temp) continue;
      await conn.run(`SELECT count(*) FROM read_parquet('${f.path}')`);
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

test('SIGKILL at random moments, then restart: nothing lost, nothing duplicated, no partial file', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'archive-crash-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const config = loadConfig({ DATA_DIR: dataDir });
  const w = workload(2024, 30_000, 5);
  let log = await openEventLog(config);
  await log.ensureTopics(DEFAULT_TOPICS);
  await produceWorkload(log, w);
  const expected = await expectedFromLog(log, w);
  await log.close();

  const rand = rng(99);
  for (let round = 0; round < 5; round++) {
    const child = spawnArchiver(dataDir, ['--flush-records', '1000', '--flush-interval', '200']);
    const exit = exited(child);
    await firstFlushOrCaughtUp(child);
    await new Promise((r) => setTimeout(r, Math.floor(rand() * 400)));
    child.kill('SIGKILL');
    const { signal, stderr } = await exit;
    assert.equal(signal, 'SIGKILL', `the archiver ended on its own: ${stderr}`);
    await assertEveryVisibleFileReadable(dataDir);
  }

  const final = await exited(spawnArchiver(dataDir, ['--once']));
  assert.equal(final.code, 0, final.stderr);
  await assertEveryVisibleFileReadable(dataDir);
  assert.deepEqual((await listArchiveFiles(dataDir)).filter((f) => f.temp), []);
  const facts = await archiveFacts(dataDir);
  assert.deepEqual(
    { count: facts.count, checksum: facts.checksum, timeSum: facts.timeSum, amountSum: facts.amountSum },
    expected,
  );

  log = await openEventLog(config);
  t.after(() => log.close());
  const progress = await readProgress(dataDir);
  for (const [p, end] of await log.endOffsets('events')) assert.equal(progress.nextOffsets[String(p)], end);
  // Dead letters are written before the progress moves, so a crash may repeat some, never lose one.
  const byArchiver = new Set((await deadLetters(log)).filter((l) => l.letter.source === 'archiver').map((l) => l.key));
  assert.equal(byArchiver.size, w.foreign.length);
});

test('SIGTERM: the long-running archiver flushes, records its progress and exits 0', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'archive-term-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const config = loadConfig({ DATA_DIR: dataDir });
  const w = workload(5, 2000, 3);
  const log = await openEventLog(config);
  await log.ensureTopics(DEFAULT_TOPICS);
  await produceWorkload(log, w);
  const expected = await expectedFromLog(log, w);
  await log.close();

  // Neither the size nor the interval is reached: once caught up, the SIGTERM flush is the one that writes.
  const child = spawnArchiver(dataDir, ['--flush-records', '1000000', '--flush-interval', '3600000']);
  const exit = exited(child);
  await new Promise<void>((resolve) => {
    child.stderr?.on('data', (d: Buffer) => {
      if (d.toString().includes('caught up')) resolve();
    });
    child.once('exit', () => resolve());
  });
  child.kill('SIGTERM');
  const { code, stderr } = await exit;
  assert.equal(code, 0, stderr);
  const facts = await archiveFacts(dataDir);
  assert.equal(facts.count, expected.count);
  assert.equal(facts.checksum, expected.checksum);
});
