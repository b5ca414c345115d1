import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBInstance } from '@duckdb/node-api';
import { DEFAULT_WORKLOAD_SETTINGS, VIEWS, Workload, itemRaw, viewColumns, type RawEvent } from '@lambda/shared';
import { listArchiveFiles } from '../archive/files.ts';
import {
  WORKLOAD_REFERENCES,
  canonical,
  within,
  type Row,
  type TestEvent,
} from '../compiler/test-support.ts';
import { acquireBatchLock } from './lock.ts';
import { readManifest } from './manifest.ts';
import { versionDir, versionsDir } from './paths.ts';
import { readBatchView } from './read.ts';
import { rollbackBatch } from './rollback.ts';
import { BackfillWithoutVersionError, runBatch } from './run.ts';
import { eventsInLog, ingestAndArchive, runLambda, tempDataDir } from './test-support.ts';

const MINUTE = 60_000;
const START = Date.UTC(2024, 4, 1);

/** About 12 minutes of the workload with late, duplicate and malformed items, an error spike and login bursts. */
function generated(seed: number): RawEvent[] {
  const w = new Workload({
    seed,
    count: 3000,
    rate: 4,
    startTime: START,
    users: 40,
    products: 8,
    lateShare: 0.1,
    lateDelayMs: 120_000,
    duplicateShare: 0.05,
    malformedShare: 0.02,
    loginBurstsPerHour: 30,
  });
  return [...w].map(itemRaw);
}

async function published(dataDir: string, view: string): Promise<Row[]> {
  return (await readBatchView(dataDir, view)).rows as Row[];
}

/** Independent of the code under test: per log partition the max event time, the minimum, minus the lag, floored. */
function expectedHwm(log: TestEvent[], lagMs: number): number {
  const maxByPartition = new Map<number, number>();
  for (const e of log) maxByPartition.set(e.log_partition, Math.max(maxByPartition.get(e.log_partition) ?? -Infinity, e.event_time));
  const watermark = Math.min(...maxByPartition.values()) - lagMs;
  return watermark - (((watermark % MINUTE) + MINUTE) % MINUTE);
}

test('a run publishes every view equal to the reference, with a truthful manifest', async (t) => {
  const dataDir = await tempDataDir(t);
  await ingestAndArchive(dataDir, generated(11));
  const log = await eventsInLog(dataDir);
  assert.ok(log.length > 2500 && new Set(log.map((e) => e.event_id)).size < log.length, 'the log holds duplicates');

  const { version } = await runBatch({ dataDir });
  for (const view of VIEWS) {
    const expected = WORKLOAD_REFERENCES[view.name]!(log, DEFAULT_WORKLOAD_SETTINGS);
    assert.ok(expected.length > 0, view.name);
    assert.deepEqual(canonical(await published(dataDir, view.name)), canonical(expected), view.name);
    assert.equal(version.views[view.name]!.rows, expected.length);
  }
  assert.ok((await published(dataDir, 'error_rate_by_product')).some((r) => r.alert === true), 'the error spike alerts');

  const manifest = (await readManifest(dataDir))!;
  assert.deepEqual(manifest.current, version);
  assert.deepEqual(manifest.versions.map((v) => v.runId), [version.runId]);
  assert.equal(version.input.rows, log.length);
  assert.equal(version.input.files, (await listArchiveFiles(dataDir)).filter((f) => !f.temp).length);
  const lag = Math.max(...VIEWS.map((v) => v.watermarkLagMs));
  assert.equal(version.highWaterMark, expectedHwm(log, lag));
  assert.equal(version.kind, 'full');

  // Each file carries exactly the view's declared columns and types.
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    for (const view of VIEWS) {
      const file = path.join(versionDir(dataDir, version.runId), version.views[view.name]!.file);
      const described = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`)).getRows();
      assert.deepEqual(described.map((r) => `${String(r[0])}:${String(r[1])}`), viewColumns(view).map((c) => `${c.name}:${c.type}`));
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }

  const lagged = await runBatch({ dataDir, safetyLagMs: 5 * MINUTE, views: ['sessions'] });
  assert.equal(lagged.version.views.sessions!.highWaterMark, expectedHwm(log, 5 * MINUTE));
  assert.equal(lagged.version.views.revenue_per_minute!.computed, false, 'views not named are carried over');
  assert.equal(lagged.version.highWaterMark, expectedHwm(log, 5 * MINUTE), 'the version hwm is its views’ minimum');
});

test('versions: K kept on disk and in the manifest; rollback makes the previous one current', async (t) => {
  const dataDir = await tempDataDir(t);
  await ingestAndArchive(dataDir, generated(12));
  const runs: string[] = [];
  for (let i = 0; i < 4; i++) runs.push((await runBatch({ dataDir, keep: 2 })).version.runId);
  let manifest = (await readManifest(dataDir))!;
  assert.deepEqual(manifest.versions.map((v) => v.runId), runs.slice(-2).reverse());
  assert.deepEqual((await readdir(versionsDir(dataDir))).sort(), runs.slice(-2).sort());

  const before = await published(dataDir, 'sessions');
  const r = await rollbackBatch(dataDir);
  assert.equal(r.from, runs[3]);
  manifest = (await readManifest(dataDir))!;
  assert.equal(manifest.current.runId, runs[2]);
  assert.deepEqual(await published(dataDir, 'sessions'), before, 'same data, same rows');
  await assert.rejects(rollbackBatch(dataDir), /no kept version older/);
  await assert.rejects(rollbackBatch(dataDir, runs[0]), /unknown or no longer kept version/);
  assert.equal((await rollbackBatch(dataDir, runs[3])).to.runId, runs[3], 'a rollback can be undone');
});

test('backfill recomputes only the windows inside the range and carries the rest over', async (t) => {
  const dataDir = await tempDataDir(t);
  await assert.rejects(runBatch({ dataDir, from: START, to: START + MINUTE }), BackfillWithoutVersionError);
  await ingestAndArchive(dataDir, generated(13));
  const first = (await runBatch({ dataDir })).version;
  const before = Object.fromEntries(await Promise.all(VIEWS.map(async (v) => [v.name, await published(dataDir, v.name)] as const)));

  // Late events for an old stretch, archived after the run: as after a fix of a lost upstream batch.
  const late: RawEvent[] = [];
  for (let i = 0; i < 300; i++) {
    const event_time = START + 2 * MINUTE + ((i * 7919) % (4 * MINUTE));
    const user_id = `user-late-${i % 6}`;
    const base = { event_id: `late-${i}`, event_time, user_id };
    const kinds = [
      { ...base, type: 'purchase', product_id: 'product-late', amount_cents: 100 + i },
      { ...base, type: 'page_view', product_id: `product-${i % 3}` },
      { ...base, type: 'error', product_id: `product-${i % 3}` },
      { ...base, type: 'login_failed' },
      { ...base, type: 'click' },
    ];
    late.push({ value: kinds[i % kinds.length] });
  }
  await ingestAndArchive(dataDir, late);
  const log = await eventsInLog(dataDir);

  const range = { from: START + MINUTE, to: START + 12 * MINUTE };
  const { version } = await runBatch({ dataDir, ...range });
  assert.equal(version.kind, 'backfill');
  assert.equal(version.basedOn, first.runId);
  assert.equal(version.highWaterMark, first.highWaterMark, 'a backfill keeps the high-water mark');
  const inside = within(range);
  let changed = 0;
  for (const view of VIEWS) {
    const rows = await published(dataDir, view.name);
    const expectedInside = WORKLOAD_REFERENCES[view.name]!(log, DEFAULT_WORKLOAD_SETTINGS).filter(inside);
    assert.deepEqual(canonical(rows.filter(inside)), canonical(expectedInside), `${view.name} inside the range`);
    assert.deepEqual(canonical(rows.filter((r) => !inside(r))), canonical(before[view.name]!.filter((r) => !inside(r))), `${view.name} outside`);
    if (JSON.stringify(canonical(rows.filter(inside)), bigints) !== JSON.stringify(canonical(before[view.name]!.filter(inside)), bigints)) changed++;
  }
  assert.equal(changed, VIEWS.length, 'the late events changed every view inside the range');
});

test('a run while another holds the lock reports it, exits 0 and publishes nothing', async (t) => {
  const dataDir = await tempDataDir(t);
  await ingestAndArchive(dataDir, generated(14));
  await runBatch({ dataDir });
  const before = await readManifest(dataDir);
  const lock = await acquireBatchLock(dataDir, 'test holder');
  try {
    const r = await runLambda(dataDir, ['batch', 'run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /another batch run holds the lock \(pid \d+/);
    assert.deepEqual(await readManifest(dataDir), before);
  } finally {
    await lock.release();
  }
  const r = await runLambda(dataDir, ['batch', 'run', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.notEqual((JSON.parse(r.stdout) as { runId: string }).runId, before!.current.runId);
});

test('CLI: bad input fails with a clear message', async (t) => {
  const dataDir = await tempDataDir(t);
  const backfill = await runLambda(dataDir, ['batch', 'run', '--from', '2024-05-01T00:00:00Z', '--to', '2024-05-01T01:00:00Z']);
  assert.equal(backfill.code, 1);
  assert.match(backfill.stderr, /backfill .* needs a current version/);
  const unknown = await runLambda(dataDir, ['query', 'nope']);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /unknown view "nope"; known views: revenue_per_minute/);
  const badDate = await runLambda(dataDir, ['query', 'sessions', '--from', 'yesterday']);
  assert.notEqual(badDate.code, 0);
  assert.match(badDate.stderr, /--from/);
  const layer = await runLambda(dataDir, ['query', 'sessions', '--layer', 'bogus']);
  assert.notEqual(layer.code, 0);
  assert.match(layer.stderr, /--layer/);
});

function bigints(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
