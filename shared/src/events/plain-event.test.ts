import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { eventArbitraries, zodEvent } from '../testing/event-arbitraries.ts';
import { WORKLOAD_DEFAULTS, Workload, itemLine, workloadSpanMs } from '../generator/workload.ts';
import { isPlainValidEvent } from './plain-event.ts';

const NOW = Date.UTC(2026, 10, 25, 12);
// No future limit here: the skew rule is validateEvent's own, applied after either check.
const NO_SKEW_LIMIT = Number.POSITIVE_INFINITY;

test('the compiled check accepts only events zod accepts, and zod returns them unchanged', () => {
  const { textArb } = eventArbitraries(NOW, 24 * 3_600_000);
  let accepted = 0;
  let refused = 0;
  fc.assert(
    fc.property(textArb, (text) => {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return;
      }
      const zod = zodEvent(value, NOW, NO_SKEW_LIMIT);
      if (!isPlainValidEvent(value)) {
        refused++;
        return;
      }
      accepted++;
      assert.ok(zod, `accepted what zod rejects: ${text}`);
      assert.deepEqual(value, zod, `zod would return something else for ${text}`);
    }),
    { numRuns: 5000 },
  );
  // Both sides must have been exercised, or the property says nothing.
  assert.ok(accepted > 500, `only ${accepted} events passed the compiled check`);
  assert.ok(refused > 500, `only ${refused} events were left to zod`);
});

test("the compiled check takes every valid event of the generator's workload", () => {
  const options = { ...WORKLOAD_DEFAULTS, count: 3000, malformedShare: 0, startTime: 0 };
  const workload = new Workload({ ...options, startTime: NOW - workloadSpanMs(options) });
  for (const item of workload) {
    const value: unknown = JSON.parse(itemLine(item));
    assert.ok(isPlainValidEvent(value), `left to zod: ${itemLine(item)}`);
  }
});
