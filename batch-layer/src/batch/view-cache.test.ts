import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { VIEWS, Workload, itemRaw, keyColumnOf } from '@lambda/shared';
import { readBatchView } from './read.ts';
import { rollbackBatch } from './rollback.ts';
import { runBatch } from './run.ts';
import { BatchViewCache } from './view-cache.ts';
import { ingestAndArchive, tempDataDir } from './test-support.ts';

const MINUTE = 60_000;
const START = Date.UTC(2024, 4, 1);

function raws(seed: number, count: number) {
  return [...new Workload({ seed, count, rate: 5, startTime: START, users: 30, products: 8, lateShare: 0.05, lateDelayMs: 90_000, duplicateShare: 0.02, malformedShare: 0, loginBurstsPerHour: 30 })].map(itemRaw);
}

test('the cache answers every range and key exactly as a DuckDB read of the current version, and follows runs and rollbacks', async (t) => {
  const dataDir = await tempDataDir(t);
  // Rechecking on every read, so that each step below sees the version just published.
  const cache = new BatchViewCache(dataDir, 0);
  assert.equal(await cache.current(), null, 'no manifest yet');
  await ingestAndArchive(dataDir, raws(3, 3000));
  const first = (await runBatch({ dataDir, threads: 1 })).version;
  assert.equal((await cache.current())?.current.runId, first.runId);

  const span = 12 * 60 * MINUTE;
  const query = fc.record({
    view: fc.constantFrom(...VIEWS),
    from: fc.option(fc.integer({ min: -10, max: span / MINUTE + 10 }).map((m) => START + m * MINUTE + (m % 3) * 7_000), { nil: undefined }),
    to: fc.option(fc.integer({ min: -10, max: span / MINUTE + 10 }).map((m) => START + m * MINUTE), { nil: undefined }),
    keyIndex: fc.option(fc.nat(40), { nil: undefined }),
  });
  const check = async ({ view, from, to, keyIndex }: { view: (typeof VIEWS)[number]; from?: number; to?: number; keyIndex?: number }) => {
    const keyColumn = keyColumnOf(view);
    const all = (await readBatchView(dataDir, view.name)).rows;
    const key = keyColumn && keyIndex !== undefined && all.length > 0 ? String(all[keyIndex % all.length]![keyColumn]) : undefined;
    const q = { from, to, ...(key !== undefined && { key }) };
    assert.deepEqual((await cache.read(view, q)).rows, (await readBatchView(dataDir, view.name, q)).rows, `${view.name} ${JSON.stringify(q)}`);
  };
  await fc.assert(fc.asyncProperty(query, check), { numRuns: 60 });

  // A second run over more events is served at once, then a rollback brings the first back.
  await ingestAndArchive(dataDir, raws(4, 2000));
  const second = (await runBatch({ dataDir, threads: 1 })).version;
  const revenue = VIEWS.find((v) => v.name === 'revenue_per_minute')!;
  assert.equal((await cache.read(revenue)).runId, second.runId);
  assert.deepEqual((await cache.read(revenue)).rows, (await readBatchView(dataDir, revenue.name)).rows);
  await rollbackBatch(dataDir);
  assert.equal((await cache.read(revenue)).runId, first.runId);
  assert.deepEqual((await cache.read(revenue)).rows, (await readBatchView(dataDir, revenue.name)).rows);
  await fc.assert(fc.asyncProperty(query, check), { numRuns: 20 });
});
