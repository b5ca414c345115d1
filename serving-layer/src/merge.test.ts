import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { findView, parseView, type ViewRow } from '@lambda/shared';
import { mergeRows, ownerOf } from './merge.ts';
import { MINUTE, T0, row } from './test-support.ts';

const revenue = findView('revenue_per_minute');
const errors = findView('error_rate_by_product');
const active = findView('active_users');

const minute = (i: number) => T0 + i * MINUTE;
const rev = (i: number, cents: bigint) => row(minute(i), MINUTE, { revenue_cents: cents, purchases: 1n });
const summary = (rows: ViewRow[]) => rows.map((r) => [(Number(r.window_start) - T0) / MINUTE, r.source, r.revenue_cents]);

test('windows ending at or before the high-water mark come from batch, later ones from speed, none from both', () => {
  // Both layers hold minutes 2 and 3; the boundary (end of minute 2) decides. Batch minute 1 and
  // speed minute 4 are missing: empty windows of a series, filled with zeros by their owner.
  const batch = [rev(0, 100n), rev(2, 120n), rev(3, 999n)];
  const speed = [rev(2, 777n), rev(3, 130n), rev(5, 150n)];
  const rows = mergeRows({ view: revenue, layer: 'merged', range: { from: minute(0), to: minute(6) }, highWaterMark: minute(3), batch, speed });
  assert.deepEqual(summary(rows), [
    [0, 'batch', 100n],
    [1, 'batch', 0n],
    [2, 'batch', 120n],
    [3, 'speed', 130n],
    [4, 'speed', 0n],
    [5, 'speed', 150n],
  ]);
  assert.equal(rows[1]!.purchases, 0n);
});

test('without a batch run every window is the speed layer\'s', () => {
  const rows = mergeRows({ view: revenue, layer: 'merged', range: { from: minute(0), to: minute(2) }, highWaterMark: null, batch: [], speed: [rev(1, 5n)] });
  assert.deepEqual(summary(rows), [
    [0, 'speed', 0n],
    [1, 'speed', 5n],
  ]);
});

test('layer=batch and layer=speed answer that layer\'s rows, filling only the windows it owns', () => {
  const batch = [rev(0, 100n), rev(3, 999n)];
  const speed = [rev(0, 1n), rev(3, 130n)];
  const range = { from: minute(0), to: minute(5) };
  const hwm = minute(2);
  assert.deepEqual(summary(mergeRows({ view: revenue, layer: 'batch', range, highWaterMark: hwm, batch, speed })), [
    [0, 'batch', 100n],
    [1, 'batch', 0n],
    [3, 'batch', 999n],
  ]);
  assert.deepEqual(summary(mergeRows({ view: revenue, layer: 'speed', range, highWaterMark: hwm, batch, speed })), [
    [0, 'speed', 1n],
    [2, 'speed', 0n],
    [3, 'speed', 130n],
    [4, 'speed', 0n],
  ]);
});

test('keyed views are not zero-filled, and are ordered by window then key', () => {
  const w = (i: number, product: string) => row(minute(i), 5 * MINUTE, { product_id: product, views: 1n, errors: 0n, error_rate: 0, alert: false });
  const rows = mergeRows({
    view: errors,
    layer: 'merged',
    range: { from: minute(0), to: minute(20) },
    highWaterMark: minute(6),
    batch: [w(1, 'p2'), w(1, 'p1')],
    speed: [w(1, 'p9'), w(3, 'p1')],
  });
  assert.deepEqual(
    rows.map((r) => [(Number(r.window_start) - T0) / MINUTE, r.product_id, r.source]),
    [
      [1, 'p1', 'batch'],
      [1, 'p2', 'batch'],
      [3, 'p1', 'speed'],
    ],
  );
});

test('empty windows of open-session counts and of sliding series are zeros on the slide grid', () => {
  const rows = mergeRows({ view: active, layer: 'merged', range: { from: minute(0), to: minute(2) }, highWaterMark: null, batch: [], speed: [] });
  assert.deepEqual(rows, [
    { window_start: BigInt(minute(0)), window_end: BigInt(minute(1)), active_users: 0n, source: 'speed' },
    { window_start: BigInt(minute(1)), window_end: BigInt(minute(2)), active_users: 0n, source: 'speed' },
  ]);

  const sliding = parseView({
    name: 'site_error_rate',
    description: 'Error rate of the whole site over 3 minutes, every minute.',
    input: { types: ['page_view', 'error'] },
    key: null,
    window: { kind: 'sliding', sizeMs: 3 * MINUTE, slideMs: MINUTE },
    timeDomain: 'event',
    watermarkLagMs: 0,
    allowedLatenessMs: 0,
    latePolicy: 'drop',
    aggregates: [
      { name: 'views', fn: 'count', where: [{ column: 'type', op: 'eq', value: 'page_view' }] },
      { name: 'errors', fn: 'count', where: [{ column: 'type', op: 'eq', value: 'error' }] },
    ],
    derived: [{ name: 'error_rate', numerator: 'errors', denominator: 'views' }],
    alert: { when: [{ metric: 'error_rate', op: 'gt', value: 0.1 }] },
    output: { kind: 'series' },
  });
  // From half a minute in: the first window inside the range starts at minute 1; the last ends at 5.
  const filled = mergeRows({ view: sliding, layer: 'merged', range: { from: minute(0) + 30_000, to: minute(5) }, highWaterMark: minute(3), batch: [], speed: [] });
  assert.deepEqual(
    filled.map((r) => [(Number(r.window_start) - T0) / MINUTE, (Number(r.window_end) - T0) / MINUTE, r.source]),
    [
      [1, 4, 'speed'],
      [2, 5, 'speed'],
    ],
  );
  assert.deepEqual(filled[0], { ...filled[0], views: 0n, errors: 0n, error_rate: null, alert: false });
});

test('property: every window is served once, by its owner, and every held window of the range is present', () => {
  const minutes = fc.uniqueArray(fc.integer({ min: 0, max: 30 }), { maxLength: 30 });
  fc.assert(
    fc.property(minutes, minutes, fc.option(fc.integer({ min: -2, max: 32 }), { nil: null }), (b, s, hwmMinute) => {
      const hwm = hwmMinute === null ? null : minute(hwmMinute);
      const range = { from: minute(0), to: minute(31) };
      const batch = b.map((i) => rev(i, 1n));
      const speed = s.map((i) => rev(i, 2n));
      const rows = mergeRows({ view: revenue, layer: 'merged', range, highWaterMark: hwm, batch, speed });
      assert.deepEqual(rows.map((r) => Number(r.window_start)), Array.from({ length: 31 }, (_, i) => minute(i)));
      for (const r of rows) {
        const owner = ownerOf(Number(r.window_end), hwm);
        assert.equal(r.source, owner);
        const held = (owner === 'batch' ? b : s).includes((Number(r.window_start) - T0) / MINUTE);
        assert.equal(r.revenue_cents, held ? (owner === 'batch' ? 1n : 2n) : 0n);
      }
    }),
  );
});
