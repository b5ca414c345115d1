import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VIEWS, type SpeedViewSource } from '@lambda/shared';
import { MINUTE, T0, fakeBatch, fakeSpeed, row, testApp } from '../test-support.ts';

/** `GET /v1/status`: watermarks, high-water mark, late events per view and the consumer lag; always a 200. */

const NOW = T0 + 30_000;
const rows = { revenue_per_minute: [row(T0, MINUTE, { revenue_cents: 5n, purchases: 1n })] };

function withLag(speed: SpeedViewSource, lag: () => Promise<number | null>): SpeedViewSource {
  return { ...speed, lag };
}

const get = (app: ReturnType<typeof testApp>, url = '/v1/status') => app.inject({ method: 'GET', url });

test('GET /v1/status: per view the speed watermark, the high-water mark and the late events; the consumer lag', async (t) => {
  const batch = fakeBatch(rows, { runId: 'run-1', highWaterMark: T0 - 10 * MINUTE });
  const reads: Array<{ view: string; from?: number; to?: number }> = [];
  const base = fakeSpeed(rows, { watermark: T0 - 20_000, lateEvents: { drop: 3 } });
  const speed = withLag({ ...base, read: (view, q) => (reads.push({ view: view.name, ...q }), base.read(view, q)) }, async () => 42);
  const res = await get(testApp(t, { batch, speed }));
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.deepEqual(Object.keys(body).sort(), ['batch', 'consumerLag', 'errors', 'time', 'views']);
  assert.equal(body.time, NOW);
  assert.deepEqual(body.batch, { runId: 'run-1', highWaterMark: T0 - 10 * MINUTE });
  assert.equal(body.consumerLag, 42);
  assert.deepEqual(body.errors, []);
  assert.deepEqual(
    body.views,
    VIEWS.map((v) => ({ view: v.name, latePolicy: v.latePolicy, speedWatermark: T0 - 20_000, highWaterMark: T0 - 10 * MINUTE, lateEvents: { drop: 3 } })),
  );
  // The late counts come with a read of an empty range: no rows are read for the status.
  assert.equal(reads.length, VIEWS.length);
  for (const r of reads) assert.equal(r.from, r.to);
  assert.deepEqual(batch.queries, [], 'no batch view is read');
});

test('GET /v1/status: a speed source without lag reports it as unknown, not as an error', async (t) => {
  const res = await get(testApp(t, { batch: fakeBatch({}, { runId: null, highWaterMark: null }), speed: fakeSpeed({}) }));
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.consumerLag, null);
  assert.deepEqual(body.errors, []);
  assert.deepEqual(body.batch, { runId: null, highWaterMark: null });
  assert.deepEqual(body.views[0], { view: VIEWS[0]!.name, latePolicy: VIEWS[0]!.latePolicy, speedWatermark: null, highWaterMark: null, lateEvents: {} });
});

test('GET /v1/status is a 200 whatever fails: absent or failing layers give nulls and name themselves in errors', async (t) => {
  const none = await get(testApp(t));
  assert.equal(none.statusCode, 200, none.body);
  assert.deepEqual(none.json().errors, ['batch layer: not connected to this server', 'speed layer: not connected to this server']);
  assert.equal(none.json().consumerLag, null);
  assert.deepEqual(none.json().views[0], { view: VIEWS[0]!.name, latePolicy: VIEWS[0]!.latePolicy, speedWatermark: null, highWaterMark: null, lateEvents: null });

  const fail = (what: string) => () => Promise.reject(new Error(`${what} unreachable`));
  const batch = { ...fakeBatch({}, { runId: 'r', highWaterMark: T0 }), current: fail('manifest') };
  const speed = withLag({ ...fakeSpeed({}), read: fail('redis') }, fail('kafka'));
  const res = await get(testApp(t, { batch, speed }));
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.deepEqual(body.batch, { runId: null, highWaterMark: null });
  assert.equal(body.consumerLag, null);
  assert.deepEqual(body.errors.sort(), ['batch layer: manifest unreachable', 'speed layer (consumer lag): kafka unreachable', 'speed layer: redis unreachable']);
  assert.ok(body.views.every((v: { lateEvents: unknown; speedWatermark: unknown }) => v.lateEvents === null && v.speedWatermark === null));
});

test('GET /v1/status ignores query parameters and is in the OpenAPI document', async (t) => {
  const app = testApp(t, { batch: fakeBatch({}, { runId: null, highWaterMark: null }), speed: fakeSpeed({}) });
  for (const q of ['?from=nonsense', '?view=nope&x[]=1', '?__proto__=1']) {
    const res = await get(app, `/v1/status${q}`);
    assert.equal(res.statusCode, 200, `${q}: ${res.body}`);
  }
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, unknown>> };
  assert.ok(doc.paths['/v1/status']?.get, 'GET /v1/status is documented');
  assert.equal(doc.paths['/'], undefined, 'the dashboard assets are not API routes');
});

test('the dashboard is served at / with its script and stylesheet, all from this server', async (t) => {
  const app = testApp(t);
  const page = await get(app, '/');
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-type']), /^text\/html; charset=utf-8/);
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  assert.match(page.body, /<script type="module" src="\/dashboard\.js"><\/script>/);
  assert.doesNotMatch(page.body, /(src|href)="(https?:)?\/\//, 'nothing is loaded from elsewhere');
  for (const [url, type] of [
    ['/dashboard.js', /^text\/javascript/],
    ['/dashboard.css', /^text\/css/],
  ] as const) {
    const res = await get(app, url);
    assert.equal(res.statusCode, 200, url);
    assert.match(String(res.headers['content-type']), type, url);
    assert.ok(res.body.length > 100, url);
  }
  const script = (await get(app, '/dashboard.js')).body;
  for (const route of ['/v1/status', '/v1/views/revenue_per_minute', '/v1/views/active_users', '/v1/views/error_rate_by_product', '/v1/alerts', '/v1/drift']) {
    assert.ok(script.includes(route), `the page polls ${route}`);
  }
  assert.doesNotMatch(script, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'the script fetches nothing from elsewhere');
});
