import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findView } from '@lambda/shared';
import { compareRows, lateIn } from './drift.ts';
import { MINUTE, T0, row } from './test-support.ts';

const errors = findView('error_rate_by_product');
const revenue = findView('revenue_per_minute');
const W = 5 * MINUTE;
const at = (i: number) => T0 + i * MINUTE;
const product = (i: number, id: string, views: bigint, errs: bigint) =>
  row(at(i), W, { product_id: id, views, errors: errs, error_rate: views === 0n ? null : Number(errs) / Number(views), alert: false });

test('a hand-checked drift report', () => {
  const batch = [product(0, 'p1', 10n, 2n), product(0, 'p2', 4n, 0n), product(1, 'p1', 20n, 2n)];
  const speed = [
    product(0, 'p1', 8n, 1n), // the speed layer dropped 2 views and 1 error here
    product(0, 'p2', 4n, 0n),
    product(0, 'p3', 1n, 0n), // a key the batch layer does not have, in a window both hold
    product(1, 'p1', 20n, 2n),
    product(7, 'p1', 3n, 0n), // a window the batch layer does not hold: not compared
  ];
  const report = compareRows(errors, batch, speed);
  // Window 0, p1: views |10 - 8| = 2 (relative 2/10), errors |2 - 1| = 1 (relative 1/2),
  // error_rate |0.2 - 0.125| = 0.075 (relative 0.075/0.2 = 0.375). Largest relative: errors.
  assert.equal(report.rowsCompared, 3);
  assert.equal(report.rowsDiffering, 1);
  assert.equal(report.windowsCompared, 2);
  assert.equal(report.windowsDiffering, 1);
  assert.equal(report.onlyBatch, 0);
  assert.equal(report.onlySpeed, 1);
  assert.equal(report.maxAbsoluteDiff, 2);
  assert.equal(report.maxRelativeDiff, 0.5);
  assert.deepEqual(report.largest, {
    window_start: at(0),
    window_end: at(0) + W,
    key: 'p1',
    column: 'errors',
    batch: 2n,
    speed: 1n,
    absolute: 1,
    relative: 0.5,
  });
  assert.deepEqual(report.windowStarts, [at(0), at(1)]);
});

test('identical layers drift by zero; a null ratio against a number differs without a numeric size', () => {
  const rows = [product(0, 'p1', 10n, 2n), product(1, 'p1', 20n, 2n)];
  const { windowStarts: _, ...same } = compareRows(errors, rows, rows.map((r) => ({ ...r })));
  assert.deepEqual(same, {
    windowsCompared: 2,
    windowsDiffering: 0,
    rowsCompared: 2,
    rowsDiffering: 0,
    onlyBatch: 0,
    onlySpeed: 0,
    maxAbsoluteDiff: 0,
    maxRelativeDiff: 0,
    largest: null,
  });
  const nulls = compareRows(errors, [product(0, 'p1', 0n, 0n)], [{ ...product(0, 'p1', 0n, 0n), error_rate: 0 }]);
  assert.equal(nulls.rowsDiffering, 1);
  assert.equal(nulls.largest, null);
});

test('integer differences are exact beyond 2^53', () => {
  const big = 2n ** 60n;
  const r = (cents: bigint) => row(at(0), MINUTE, { revenue_cents: cents, purchases: 3n });
  const report = compareRows(revenue, [r(big + 5n)], [r(big + 2n)]);
  assert.equal(report.maxAbsoluteDiff, 3);
  assert.equal(report.largest?.column, 'revenue_cents');
});

test('lateIn sums the late events of the given windows only', () => {
  const late = new Map([
    [at(0), 2],
    [at(1), 3],
    [at(9), 100],
  ]);
  assert.equal(lateIn(late, [at(0), at(1), at(2)]), 5);
  assert.equal(lateIn(late, []), 0);
});
