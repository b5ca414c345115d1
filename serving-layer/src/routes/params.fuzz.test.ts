import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { VIEWS } from '@lambda/shared';
import { MINUTE, T0, fakeBatch, fakeSpeed, row, testApp } from '../test-support.ts';

/**
 * Whatever a client puts in the query string of the read routes, the answer is a 200 or a 4xx with
 * a JSON message: never a 5xx, never HTML or an empty body.
 */

const time = fc.oneof(
  fc.integer({ min: T0 - 10 * 86_400_000, max: T0 + 10 * 86_400_000 }).map(String),
  fc.integer({ min: T0 - 3 * 3_600_000, max: T0 + 3_600_000 }).map((t) => new Date(t).toISOString()),
  fc.constantFrom('', '0', '-1', '1e3', '9007199254740993', '8640000000000001', '2026-01-15', 'now', 'NaN', '2026-02-30T00:00:00Z', '+275760-09-13T00:00:00Z'),
  fc.string({ maxLength: 30 }),
  fc.double().map(String),
);
const value = fc.oneof(time, fc.string(), fc.constantFrom('merged', 'batch', 'speed', 'p1', 'u1'));
const name = fc.oneof(fc.constantFrom(...VIEWS.map((v) => v.name)), fc.string({ minLength: 1, maxLength: 40 }));
const params = fc.dictionary(fc.constantFrom('from', 'to', 'key', 'layer', 'view', 'extra', 'from[]', '__proto__'), fc.oneof(value, fc.array(value, { maxLength: 3 })));

function query(p: Record<string, string | string[]>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(p)) for (const x of Array.isArray(v) ? v : [v]) q.append(k, x);
  return q.toString();
}

test('fuzzed query parameters of /v1/views/:name and /v1/drift never get a 5xx', async (t) => {
  const rows = { revenue_per_minute: [row(T0, MINUTE, { revenue_cents: 5n, purchases: 1n })] };
  const app = testApp(t, { batch: fakeBatch(rows, { runId: 'r', highWaterMark: T0 + MINUTE }), speed: fakeSpeed(rows, { watermark: T0 }) });
  await fc.assert(
    fc.asyncProperty(fc.boolean(), name, params, async (drift, view, p) => {
      const url = drift ? `/v1/drift?${query(p)}` : `/v1/views/${encodeURIComponent(view)}?${query(p)}`;
      const res = await app.inject({ method: 'GET', url });
      assert.ok(res.statusCode < 500, `${url}: ${res.statusCode} ${res.body}`);
      const body = res.json();
      if (res.statusCode >= 400) assert.ok(typeof body.message === 'string' && body.message.length > 0, `${url}: ${res.body}`);
      else assert.equal(res.statusCode, 200);
    }),
    { numRuns: 400 },
  );
});
