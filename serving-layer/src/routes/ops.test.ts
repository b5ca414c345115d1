import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdminConflictError, type AdminActions } from '@lambda/shared';
import { fakeBatch, fakeSpeed, testApp } from '../test-support.ts';

/** The operator's routes: admin actions behind the token, metrics, health. */

const TOKEN = 's3cret-token';

function recordingAdmin(): AdminActions & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    runBatch: async () => {
      calls.push('run');
      return { runId: 'run-2', highWaterMark: 120_000 };
    },
    rollback: async (runId?: string) => {
      calls.push(`rollback ${runId ?? '(previous)'}`);
      if (runId === 'gone') throw new AdminConflictError('unknown or no longer kept version "gone"');
      return { from: 'run-2', to: runId ?? 'run-1' };
    },
  };
}

const post = (app: ReturnType<typeof testApp>, url: string, headers: Record<string, string> = {}, payload?: unknown) =>
  app.inject({ method: 'POST', url, headers, ...(payload !== undefined && { payload: payload as object }) });

test('admin routes are disabled without ADMIN_TOKEN, whatever is sent', async (t) => {
  const admin = recordingAdmin();
  const app = testApp(t, { admin });
  for (const url of ['/v1/admin/batch-run', '/v1/admin/rollback']) {
    const res = await post(app, url, { authorization: 'Bearer anything' });
    assert.equal(res.statusCode, 403);
    assert.match(res.json().message, /disabled.*ADMIN_TOKEN/);
  }
  assert.deepEqual(admin.calls, []);
});

test('a missing or wrong token is a 401; the right one runs the action', async (t) => {
  const admin = recordingAdmin();
  const app = testApp(t, { admin }, { ADMIN_TOKEN: TOKEN });
  const wrong: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong' }, { authorization: TOKEN }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }];
  for (const headers of wrong) {
    const res = await post(app, '/v1/admin/batch-run', headers);
    assert.equal(res.statusCode, 401, JSON.stringify(headers));
    assert.match(res.json().message, /^authorization:/);
    assert.match(String(res.headers['www-authenticate']), /^Bearer/);
  }
  assert.deepEqual(admin.calls, []);

  const auth = { authorization: `Bearer ${TOKEN}` };
  const run = await post(app, '/v1/admin/batch-run', auth);
  assert.equal(run.statusCode, 200, run.body);
  assert.deepEqual(run.json(), { runId: 'run-2', highWaterMark: 120_000 });
  const back = await post(app, '/v1/admin/rollback', auth);
  assert.deepEqual(back.json(), { from: 'run-2', to: 'run-1' });
  const to = await post(app, '/v1/admin/rollback', auth, { runId: 'run-0' });
  assert.deepEqual(to.json(), { from: 'run-2', to: 'run-0' });
  const gone = await post(app, '/v1/admin/rollback', auth, { runId: 'gone' });
  assert.equal(gone.statusCode, 409);
  assert.match(gone.json().message, /^rollback: unknown or no longer kept version "gone"/);
  const bad = await post(app, '/v1/admin/rollback', auth, { runId: '' });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.json().message, /^runId:/);
  assert.deepEqual(admin.calls, ['run', 'rollback (previous)', 'rollback run-0', 'rollback gone']);
});

test('admin actions that fail or are not connected answer 503', async (t) => {
  const auth = { authorization: `Bearer ${TOKEN}` };
  const none = await post(testApp(t, {}, { ADMIN_TOKEN: TOKEN }), '/v1/admin/batch-run', auth);
  assert.equal(none.statusCode, 503);
  const failing = { ...recordingAdmin(), runBatch: () => Promise.reject(new Error('disk full')) };
  const res = await post(testApp(t, { admin: failing }, { ADMIN_TOKEN: TOKEN }), '/v1/admin/batch-run', auth);
  assert.equal(res.statusCode, 503);
  assert.match(res.json().message, /disk full/);
});

test('GET /metrics is the Prometheus text of the shared registry', async (t) => {
  const res = await testApp(t).inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain/);
  assert.match(res.body, /^# TYPE lambda_ingested_events_total counter$/m);
});

test('GET /health names every dependency and degrades when the batch layer cannot be read', async (t) => {
  const batch = fakeBatch({}, { runId: 'run-1', highWaterMark: 60_000 });
  const res = await testApp(t, { batch, speed: fakeSpeed({}) }).inject({ method: 'GET', url: '/health' });
  assert.deepEqual(res.json(), { status: 'ok', log: 'embedded', batch: { runId: 'run-1', highWaterMark: 60_000 }, speed: { store: 'memory' } });
  const broken = { ...batch, current: () => Promise.reject(new Error('manifest unreadable')) };
  const degraded = await testApp(t, { batch: broken }).inject({ method: 'GET', url: '/health' });
  assert.equal(degraded.statusCode, 200);
  assert.deepEqual(degraded.json(), { status: 'degraded', log: 'embedded', batch: { error: 'manifest unreadable' } });
});

test('GET /docs/json is the OpenAPI document of every route, built from their schemas', async (t) => {
  const res = await testApp(t).inject({ method: 'GET', url: '/docs/json' });
  assert.equal(res.statusCode, 200);
  const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
  assert.match(doc.openapi, /^3\./);
  for (const [path, method] of [
    ['/v1/events', 'post'],
    ['/v1/views', 'get'],
    ['/v1/views/{name}', 'get'],
    ['/v1/drift', 'get'],
    ['/v1/alerts', 'get'],
    ['/health', 'get'],
  ] as const) {
    assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`);
  }
  const ui = await testApp(t).inject({ method: 'GET', url: '/docs' });
  assert.ok(ui.statusCode < 400, `the UI answers (${ui.statusCode})`);
});
