import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MINUTE, T0, fakeBatch, fakeSpeed, row, testApp } from '../test-support.ts';

const at = (i: number) => T0 + i * MINUTE;
const logins = (i: number, user: string, n: bigint) => row(at(i), 10 * MINUTE, { user_id: user, failed_logins: n, alert: n > 5n });

test('GET /v1/alerts lists the alerting rows of the last 15 minutes of event time, from the merged answer', async (t) => {
  const batch = fakeBatch(
    // Minutes -30 (too old) and -14 .. -4 (in range, served by batch: ends at or before the mark at -4).
    { failed_logins_by_user: [logins(-30, 'u-old', 9n), logins(-14, 'u1', 7n), logins(-14, 'u2', 1n)] },
    { runId: 'run-1', highWaterMark: at(-4) },
  );
  const speed = fakeSpeed(
    // A batch-owned window the speed layer also holds must not alert twice.
    { failed_logins_by_user: [logins(-14, 'u1', 8n), logins(-9, 'u3', 6n)] },
    { watermark: at(0) + 20_000 },
  );
  const res = await testApp(t, { batch, speed }).inject({ method: 'GET', url: '/v1/alerts' });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  // The newest point reached is the speed watermark; rounded up to the minute grid, 15 minutes back.
  const logins_ = body.views.find((v: { view: string }) => v.view === 'failed_logins_by_user');
  assert.deepEqual(logins_, { view: 'failed_logins_by_user', from: at(-14), to: at(1), highWaterMark: at(-4), speedWatermark: at(0) + 20_000 });
  assert.deepEqual(
    body.alerts.map((a: Record<string, unknown>) => [a.view, a.user_id, a.failed_logins, a.source]),
    [
      ['failed_logins_by_user', 'u1', 7, 'batch'],
      ['failed_logins_by_user', 'u3', 6, 'speed'],
    ],
  );
});

test('alerts over an explicit range, and none before any event', async (t) => {
  const batch = fakeBatch({ failed_logins_by_user: [logins(-30, 'u-old', 9n)] }, { runId: 'run-1', highWaterMark: at(-4) });
  const app = testApp(t, { batch, speed: fakeSpeed({}) });
  const res = await app.inject({ method: 'GET', url: `/v1/alerts?from=${at(-40)}&to=${at(-10)}` });
  assert.deepEqual(res.json().alerts.map((a: Record<string, unknown>) => a.user_id), ['u-old']);

  const empty = testApp(t, { batch: fakeBatch({}, { runId: null, highWaterMark: null }), speed: fakeSpeed({}) });
  const none = await empty.inject({ method: 'GET', url: '/v1/alerts' });
  assert.equal(none.statusCode, 200);
  assert.deepEqual(none.json().alerts, []);
  const noSources = await testApp(t).inject({ method: 'GET', url: '/v1/alerts' });
  assert.equal(noSources.statusCode, 503);
});
