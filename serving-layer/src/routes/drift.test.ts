import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MINUTE, T0, fakeBatch, fakeSpeed, row, testApp } from '../test-support.ts';

const at = (i: number) => T0 + i * MINUTE;
const rev = (i: number, cents: bigint, purchases: bigint) => row(at(i), MINUTE, { revenue_cents: cents, purchases });

test('GET /v1/drift compares the windows both layers hold below the high-water mark', async (t) => {
  const batch = fakeBatch(
    // Minute 4 is past the high-water mark: incomplete in batch, so never compared.
    { revenue_per_minute: [rev(0, 100n, 1n), rev(1, 300n, 3n), rev(2, 50n, 1n), rev(4, 1n, 1n)] },
    { runId: 'run-1', highWaterMark: at(3) },
  );
  const speed = fakeSpeed(
    // Minute 0 was evicted from the speed layer; minute 1 lost one 100-cent purchase to a late drop.
    { revenue_per_minute: [rev(1, 200n, 2n), rev(2, 50n, 1n), rev(3, 70n, 1n), rev(4, 9n, 9n)] },
    { watermark: at(4), lateEvents: { drop: 3 }, lateByWindow: new Map([[at(1), 1], [at(3), 2]]) },
  );
  const app = testApp(t, { batch, speed });
  const res = await app.inject({ method: 'GET', url: `/v1/drift?view=revenue_per_minute&from=${at(0)}&to=${at(10)}` });
  assert.equal(res.statusCode, 200, res.body);
  const [report, ...others] = res.json().drift;
  assert.equal(others.length, 0);
  // Minutes 1 and 2 compared; minute 1 differs by 100 cents (1/3 of 300) and 1 purchase (1/3).
  assert.deepEqual(
    { ...report, largest: undefined },
    {
      view: 'revenue_per_minute',
      from: at(0),
      to: at(10),
      highWaterMark: at(3),
      latePolicy: 'drop',
      lateDropped: 1,
      windowsCompared: 2,
      windowsDiffering: 1,
      rowsCompared: 2,
      rowsDiffering: 1,
      onlyBatch: 0,
      onlySpeed: 0,
      maxAbsoluteDiff: 100,
      maxRelativeDiff: 1 / 3,
      largest: undefined,
    },
  );
  assert.deepEqual(report.largest, { window_start: at(1), window_end: at(2), key: null, column: 'revenue_cents', batch: 300, speed: 200, absolute: 100, relative: 1 / 3 });

  const all = await app.inject({ method: 'GET', url: `/v1/drift?from=${at(0)}&to=${at(10)}` });
  assert.equal(all.json().drift.length, 5, 'every view without ?view=');
});

test('no batch run yet: nothing to compare', async (t) => {
  const app = testApp(t, { batch: fakeBatch({}, { runId: null, highWaterMark: null }), speed: fakeSpeed({ revenue_per_minute: [rev(1, 1n, 1n)] }) });
  const res = await app.inject({ method: 'GET', url: '/v1/drift?view=revenue_per_minute' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().drift[0].windowsCompared, 0);
  assert.equal(res.json().drift[0].largest, null);
});

test('drift parameters are checked like a view query', async (t) => {
  const app = testApp(t, { batch: fakeBatch({}, { runId: null, highWaterMark: null }), speed: fakeSpeed({}) });
  for (const [url, status, message] of [
    ['/v1/drift?view=nope', 404, /view "nope" not found/],
    ['/v1/drift?from=soon', 400, /^from:/],
    [`/v1/drift?from=${at(9)}&to=${at(1)}`, 400, /^from: must be before to/],
  ] as const) {
    const res = await app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, status, res.body);
    assert.match(res.json().message, message);
  }
});
