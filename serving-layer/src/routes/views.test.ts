import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VIEWS, viewColumns } from '@lambda/shared';
import { MINUTE, T0, fakeBatch, fakeSpeed, row, testApp } from '../test-support.ts';

const at = (i: number) => T0 + i * MINUTE;
const rev = (i: number, cents: bigint) => row(at(i), MINUTE, { revenue_cents: cents, purchases: 2n });
const product = (i: number, id: string, views: bigint) => row(at(i), 5 * MINUTE, { product_id: id, views, errors: 0n, error_rate: 0, alert: false });

// Batch: complete up to the end of minute 2; speed: from minute 2 on, with a late event in minute 3.
const HWM = at(3);
function sources() {
  const batch = fakeBatch(
    {
      revenue_per_minute: [rev(0, 100n), rev(1, 2n ** 60n), rev(2, 120n)],
      error_rate_by_product: [product(-3, 'p1', 5n), product(-3, 'p2', 6n)],
    },
    { runId: 'run-1', highWaterMark: HWM },
  );
  const speed = fakeSpeed(
    { revenue_per_minute: [rev(2, 777n), rev(3, 130n)], error_rate_by_product: [product(4, 'p1', 7n), product(4, 'p2', 8n)] },
    { watermark: at(4), lateEvents: { drop: 4 }, lateByWindow: new Map([[at(3), 1]]), revised: [] },
  );
  return { batch, speed };
}

test('GET /v1/views lists every view with its definition and columns', async (t) => {
  const res = await testApp(t).inject({ method: 'GET', url: '/v1/views' });
  assert.equal(res.statusCode, 200);
  const views = res.json().views as Array<{ name: string; latePolicy: string; columns: unknown; window: unknown }>;
  assert.deepEqual(views.map((v) => v.name), VIEWS.map((v) => v.name));
  const revenue = views.find((v) => v.name === 'revenue_per_minute')!;
  assert.deepEqual(revenue.columns, viewColumns(VIEWS[0]!));
  assert.deepEqual(revenue.window, { kind: 'tumbling', sizeMs: MINUTE });
  assert.equal(revenue.latePolicy, 'drop');
});

test('a merged answer says which layer served each row, where the boundary is, and the late events', async (t) => {
  const app = testApp(t, sources());
  const res = await app.inject({ method: 'GET', url: `/v1/views/revenue_per_minute?from=${at(0)}&to=${at(5)}` });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.equal(body.view, 'revenue_per_minute');
  assert.equal(body.layer, 'merged');
  assert.equal(body.batchRunId, 'run-1');
  assert.equal(body.highWaterMark, HWM);
  assert.equal(body.speedWatermark, at(4));
  assert.deepEqual(body.lateEvents, { total: { drop: 4 }, inRange: 1 });
  assert.deepEqual(body.columns, ['window_start', 'window_end', 'revenue_cents', 'purchases', 'source']);
  assert.deepEqual(
    body.rows.map((r: Record<string, unknown>) => [r.window_start, r.revenue_cents, r.source]),
    [
      [at(0), 100, 'batch'],
      [at(1), (2n ** 60n).toString(), 'batch'], // beyond 2^53: a string, not a rounded number
      [at(2), 120, 'batch'],
      [at(3), 130, 'speed'],
      [at(4), 0, 'speed'],
    ],
  );
});

test('ISO times, the key filter and single layers', async (t) => {
  const app = testApp(t, sources());
  const iso = (i: number) => new Date(at(i)).toISOString();
  const byIso = await app.inject({ method: 'GET', url: `/v1/views/revenue_per_minute?from=${iso(0)}&to=${encodeURIComponent('2026-01-15T13:05:00+01:00')}` });
  const byMs = await app.inject({ method: 'GET', url: `/v1/views/revenue_per_minute?from=${at(0)}&to=${at(5)}` });
  assert.deepEqual(byIso.json(), byMs.json());

  const keyed = await app.inject({ method: 'GET', url: `/v1/views/error_rate_by_product?from=${at(-3)}&to=${at(10)}&key=p2` });
  assert.deepEqual(
    keyed.json().rows.map((r: Record<string, unknown>) => [r.window_start, r.product_id, r.source]),
    [
      [at(-3), 'p2', 'batch'],
      [at(4), 'p2', 'speed'],
    ],
  );

  const batchOnly = await app.inject({ method: 'GET', url: `/v1/views/revenue_per_minute?from=${at(0)}&to=${at(5)}&layer=batch` });
  assert.deepEqual(batchOnly.json().rows.map((r: Record<string, unknown>) => r.source), ['batch', 'batch', 'batch']);
  assert.equal(batchOnly.json().lateEvents, null);
  assert.equal(batchOnly.json().speedWatermark, at(4));
  const speedOnly = await app.inject({ method: 'GET', url: `/v1/views/revenue_per_minute?from=${at(0)}&to=${at(5)}&layer=speed` });
  assert.deepEqual(
    speedOnly.json().rows.map((r: Record<string, unknown>) => [r.window_start, r.revenue_cents]),
    [
      [at(2), 777],
      [at(3), 130],
      [at(4), 0],
    ],
  );
  assert.equal(speedOnly.json().highWaterMark, HWM);
});

test('the default range is the hour up to now, rounded up to the window grid', async (t) => {
  // testApp's clock: T0 + 30 s.
  const res = await testApp(t, sources()).inject({ method: 'GET', url: '/v1/views/revenue_per_minute' });
  assert.equal(res.json().to, at(1));
  assert.equal(res.json().from, at(1) - 3_600_000);
  const onlyTo = await testApp(t, sources()).inject({ method: 'GET', url: `/v1/views/active_users?to=${at(90)}` });
  assert.equal(onlyTo.json().from, at(30));
  assert.equal(onlyTo.json().rows.length, 60, 'an empty series is 60 zero minutes');
});

test('bad parameters get a 4xx whose message names the parameter', async (t) => {
  const app = testApp(t, sources());
  const cases: Array<[string, number, RegExp]> = [
    ['/v1/views/nope', 404, /view "nope" not found; known views: revenue_per_minute/],
    ['/v1/views/revenue_per_minute?from=yesterday', 400, /^from: expected epoch milliseconds or an ISO-8601 time/],
    ['/v1/views/revenue_per_minute?to=2026-01-15T12:00:00', 400, /^to: .*with a zone/],
    ['/v1/views/revenue_per_minute?from=1.5', 400, /^from:/],
    ['/v1/views/revenue_per_minute?from=99999999999999999999', 400, /^from:/],
    [`/v1/views/revenue_per_minute?from=${at(5)}&to=${at(1)}`, 400, /^from: must be before to/],
    [`/v1/views/revenue_per_minute?from=${at(5)}&to=${at(5)}`, 400, /^from: must be before to/],
    [`/v1/views/revenue_per_minute?from=${at(5)}`, 400, /^from: must be before to .*defaults to now/],
    [`/v1/views/revenue_per_minute?from=0&to=${at(0)}`, 400, /^from: .*longer than 7 days/],
    ['/v1/views/revenue_per_minute?layer=both', 400, /^layer: .*merged, batch, speed/],
    ['/v1/views/revenue_per_minute?key=p1', 400, /^key: view "revenue_per_minute" has no key/],
    ['/v1/views/active_users?key=u1', 400, /^key:/],
    ['/v1/views/revenue_per_minute?from=1&from=2', 400, /^from: must be string/],
  ];
  for (const [url, status, message] of cases) {
    const res = await app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, status, `${url}: ${res.body}`);
    assert.match(res.json().message, message, url);
  }
});

test('a missing source answers 503 naming the layer; a failing one 503 too', async (t) => {
  const url = `/v1/views/revenue_per_minute?from=${at(0)}&to=${at(5)}`;
  const { batch, speed } = sources();
  const noSpeed = await testApp(t, { batch }).inject({ method: 'GET', url });
  assert.equal(noSpeed.statusCode, 503);
  assert.match(noSpeed.json().message, /speed layer is not connected/);
  const batchOnly = await testApp(t, { batch }).inject({ method: 'GET', url: `${url}&layer=batch` });
  assert.equal(batchOnly.statusCode, 200, 'a batch-only answer needs no speed layer');
  const failing = { ...batch, read: () => Promise.reject(new Error('duckdb: disk I/O error')) };
  const res = await testApp(t, { batch: failing, speed }).inject({ method: 'GET', url });
  assert.equal(res.statusCode, 503);
  assert.match(res.json().message, /batch layer did not answer \(duckdb: disk I\/O error\); retry/);
});
