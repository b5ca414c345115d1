import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ViewDefinitionError, parseView, viewColumns, viewRegistry, workloadViewInputs, workloadViews, findView, type ViewDefinitionInput } from './index.ts';
import { matchesFilter } from './filter.ts';

const base = (): ViewDefinitionInput => ({
  name: 'clicks_per_ad',
  description: 'Clicks per ad per minute.',
  input: { types: ['click'], filter: [{ column: 'ad_id', op: 'not_null' }] },
  key: 'ad_id',
  window: { kind: 'tumbling', sizeMs: 60_000 },
  timeDomain: 'event',
  watermarkLagMs: 0,
  allowedLatenessMs: 0,
  latePolicy: 'drop',
  aggregates: [{ name: 'clicks', fn: 'count' }],
  output: { kind: 'series' },
});

function rejects(change: (v: Record<string, unknown>) => void, path: string, message: RegExp): void {
  const v = base() as unknown as Record<string, unknown>;
  change(v);
  assert.throws(
    () => parseView(v),
    (e: unknown) => {
      assert.ok(e instanceof ViewDefinitionError);
      const line = e.issues.find((i) => i.startsWith(`${path}:`));
      assert.ok(line, `expected an issue at ${path}, got:\n${e.message}`);
      assert.match(line, message);
      return true;
    },
  );
}

test('the workload views are valid and listed once each', () => {
  const views = workloadViews();
  assert.deepEqual(
    views.map((v) => v.name),
    ['revenue_per_minute', 'active_users', 'sessions', 'error_rate_by_product', 'failed_logins_by_user'],
  );
  assert.doesNotThrow(() => parseView(base()));
});

test('alert settings are settable', () => {
  const v = findView('error_rate_by_product', workloadViews({ errorRateMinViews: 7 }));
  assert.deepEqual(v.alert!.when.find((c) => c.metric === 'views'), { metric: 'views', op: 'gte', value: 7 });
});

test('a sliding slide that does not divide the size is rejected', () => {
  rejects((v) => (v.window = { kind: 'sliding', sizeMs: 300_000, slideMs: 70_000 }), 'window.slideMs', /does not divide/);
});

test('unknown fields and columns are rejected', () => {
  rejects((v) => (v.windw = 1), '(definition)', /windw/);
  rejects((v) => ((v.input as { filter: unknown[] }).filter = [{ column: 'color', op: 'not_null' }]), 'input.filter.0.column', /ad_id/);
  rejects((v) => (v.aggregates = [{ name: 'x', fn: 'sum', column: 'amount_cents' }]), 'aggregates.0.column', /not a field of click/);
});

test('aggregates must fit their column', () => {
  rejects((v) => (v.aggregates = [{ name: 'x', fn: 'min', column: 'user_id' }]), 'aggregates.0.column', /numeric column; "user_id" is a string/);
  rejects((v) => (v.aggregates = [{ name: 'x', fn: 'sum', column: 'event_time' }]), 'aggregates.0.column', /integer column; "event_time" is a timestamp/);
  rejects((v) => (v.aggregates = [{ name: 'x', fn: 'count', column: 'user_id' }]), 'aggregates.0.column', /takes no column/);
  rejects((v) => (v.aggregates = [{ name: 'x', fn: 'max' }]), 'aggregates.0.column', /needs a column/);
  rejects((v) => (v.aggregates = []), 'aggregates', /at least one aggregate/);
});

test('a key that events may lack needs a not_null filter; keys are strings', () => {
  rejects((v) => ((v.input as { filter: unknown[] }).filter = []), 'key', /may be missing on click.*not_null/);
  rejects((v) => (v.key = 'event_time'), 'key', /must be a string column/);
});

test('filters compare columns with values of their kind', () => {
  rejects((v) => ((v.input as { filter: unknown[] }).filter.push({ column: 'user_id', op: 'eq', value: 3 })), 'input.filter.1', /string column/);
  rejects((v) => ((v.input as { filter: unknown[] }).filter.push({ column: 'user_id', op: 'gt', value: 3 })), 'input.filter.1.op', /numeric column/);
});

test('derived ratios, alerts, names and outputs are checked', () => {
  rejects((v) => (v.derived = [{ name: 'r', numerator: 'clicks', denominator: 'nope' }]), 'derived.0.denominator', /not a count or sum/);
  rejects((v) => (v.alert = { when: [{ metric: 'nope', op: 'gt', value: 1 }] }), 'alert.when.0.metric', /unknown metric "nope"/);
  rejects((v) => (v.aggregates = [{ name: 'window_start', fn: 'count' }]), 'aggregates', /reserved/);
  rejects((v) => (v.output = { kind: 'sessions' }), 'output.kind', /does not fit a tumbling window/);
  rejects(
    (v) => {
      v.window = { kind: 'session', gapMs: 1000 };
      v.output = { kind: 'open_sessions', sizeMs: 60_000, column: 'active' };
    },
    'aggregates',
    /no aggregates/,
  );
});

test('a registry refuses two views of one name', () => {
  const [first] = workloadViewInputs();
  assert.throws(() => viewRegistry([first, first]), /unique: revenue_per_minute/);
});

test('viewColumns lists the row shape of each output kind', () => {
  const names = (n: string) => viewColumns(findView(n)).map((c) => `${c.name}:${c.type}`);
  assert.deepEqual(names('active_users'), ['window_start:BIGINT', 'window_end:BIGINT', 'active_users:BIGINT']);
  assert.deepEqual(names('sessions'), ['window_start:BIGINT', 'window_end:BIGINT', 'user_id:VARCHAR', 'duration_ms:BIGINT', 'events:BIGINT']);
  assert.deepEqual(names('error_rate_by_product').slice(2), ['product_id:VARCHAR', 'views:BIGINT', 'errors:BIGINT', 'error_rate:DOUBLE', 'alert:BOOLEAN']);
});

test('filters follow SQL null semantics', () => {
  const row = { product_id: null, user_id: 'u1', amount_cents: 5 };
  assert.equal(matchesFilter([{ column: 'product_id', op: 'ne', value: 'p' }], row), false);
  assert.equal(matchesFilter([{ column: 'product_id', op: 'not_in', values: ['p'] }], row), false);
  assert.equal(matchesFilter([{ column: 'product_id', op: 'is_null' }], row), true);
  assert.equal(matchesFilter([{ column: 'user_id', op: 'in', values: ['u2', 'u1'] }, { column: 'amount_cents', op: 'gte', value: 5 }], row), true);
  assert.equal(matchesFilter([{ column: 'amount_cents', op: 'lt', value: 5 }], row), false);
});
