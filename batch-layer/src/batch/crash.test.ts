import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { rng } from '../archive/test-support.ts';
import { readManifest, type BatchManifest } from './manifest.ts';
import { versionDir, versionsDir } from './paths.ts';
import { runBatch } from './run.ts';
import { buildSyntheticArchive } from './synthetic-archive.ts';
import { spawnLambda } from './test-support.ts';

// An archive large enough that a child's run takes seconds: kills land while it works.
const EVENTS = 2_000_000;
let dataDir: string;
let instance: DuckDBInstance;
let conn: DuckDBConnection;

before(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'batch-crash-'));
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
  await buildSyntheticArchive(conn, dataDir, { events: EVENTS, start: Date.UTC(2024, 4, 1) });
  await runBatch({ dataDir });
});

after(async () => {
  conn.closeSync();
  instance.closeSync();
  await rm(dataDir, { recursive: true, force: true });
});

/** Row count and an order-independent hash of every row of every view file of the current version. */
async function fingerprint(m: BatchManifest): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(m.current.views)) {
    const file = path.join(versionDir(dataDir, m.current.runId), v.file);
    const row = (await conn.runAndReadAll(`SELECT count(*), sum(hash(columns(*)::VARCHAR) % 1000003) FROM read_parquet('${file}') AS t`)).getRows()[0]!;
    out[name] = `${String(row[0])}/${String(row[1])}`;
  }
  return out;
}

test('SIGKILL at random moments of a run: the previous version stays current and intact; the next run succeeds', async () => {
  const rand = rng(7);
  let manifest = (await readManifest(dataDir))!;
  let prints = await fingerprint(manifest);
  let killed = 0;
  for (let round = 0; round < 4; round++) {
    const run = spawnLambda(dataDir, ['batch', 'run']);
    await run.stderrMatches(/batch: run \S+: snapshot/);
    await new Promise((r) => setTimeout(r, Math.floor(rand() * 3000)));
    run.child.kill('SIGKILL');
    const result = await run.exited;
    const now = (await readManifest(dataDir))!;
    if (result.signal !== 'SIGKILL') {
      // The kill came after the run ended: it must have published a complete version.
      assert.equal(result.code, 0, result.stderr);
      assert.notEqual(now.current.runId, manifest.current.runId);
      manifest = now;
      prints = await fingerprint(now);
      continue;
    }
    killed++;
    if (now.current.runId !== manifest.current.runId) {
      // Killed after publishing, while deleting dropped versions: the new version is whole.
      manifest = now;
      prints = await fingerprint(now);
      continue;
    }
    assert.deepEqual(now, manifest, 'the manifest is untouched');
    assert.deepEqual(await fingerprint(now), prints, 'the current version is intact');
  }
  assert.ok(killed >= 2, 'most kills landed while the run was working');

  const next = await runBatch({ dataDir });
  const after = (await readManifest(dataDir))!;
  assert.equal(after.current.runId, next.version.runId);
  assert.deepEqual((await readdir(versionsDir(dataDir))).sort(), after.versions.map((v) => v.runId).sort(), 'leftovers removed');
  const reference = await fingerprint(manifest);
  assert.deepEqual(await fingerprint(after), reference, 'the same archive gives the same rows');
});

test('two concurrent `batch run`: one runs, the other reports the lock and exits 0', async () => {
  const before = (await readManifest(dataDir))!;
  const first = spawnLambda(dataDir, ['batch', 'run']);
  await first.stderrMatches(/batch: run \S+: snapshot/);
  const second = await spawnLambda(dataDir, ['batch', 'run']).exited;
  const firstResult = await first.exited;
  assert.equal(firstResult.code, 0, firstResult.stderr);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /another batch run holds the lock \(pid \d+/);
  assert.doesNotMatch(second.stderr, /snapshot/, 'the second did nothing');
  const after = (await readManifest(dataDir))!;
  assert.equal(after.versions.length, Math.min(5, before.versions.length + 1), 'exactly one new version');
  assert.match(firstResult.stdout, new RegExp(`batch run ${after.current.runId}:`));
});
