import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { inputRange, paneStart, sessionBounds, startsNewSession, windowsFor, windowsOverlapping, withinRange } from './windows.ts';

// Window shapes: slide divides size; tumbling is its own case.
const fixedArb = fc.oneof(
  fc.integer({ min: 1, max: 10_000 }).map((sizeMs) => ({ kind: 'tumbling' as const, sizeMs })),
  fc
    .tuple(fc.integer({ min: 1, max: 2_000 }), fc.integer({ min: 1, max: 12 }))
    .map(([slideMs, n]) => ({ kind: 'sliding' as const, sizeMs: slideMs * n, slideMs })),
);
const timeArb = fc.integer({ min: -1e9, max: 1e13 });

test('windowsFor returns exactly the windows k*L <= t < k*L + S, by brute force over k', () => {
  fc.assert(
    fc.property(timeArb, fixedArb, (t, w) => {
      const slide = w.kind === 'tumbling' ? w.sizeMs : w.slideMs;
      const expected = [];
      for (let k = Math.trunc(t / slide) - w.sizeMs / slide - 2; k <= Math.trunc(t / slide) + 2; k++) {
        if (k * slide <= t && t < k * slide + w.sizeMs) expected.push({ start: k * slide, end: k * slide + w.sizeMs });
      }
      assert.deepEqual(windowsFor(t, w), expected);
    }),
  );
});

test('window boundaries are half-open and epoch-aligned', () => {
  const w = { kind: 'sliding' as const, sizeMs: 300_000, slideMs: 60_000 };
  assert.deepEqual(windowsFor(60_000, w).at(-1), { start: 60_000, end: 360_000 });
  assert.equal(windowsFor(59_999, w).at(-1)!.start, 0);
  assert.equal(windowsFor(360_000, w)[0]!.start, 120_000);
  assert.deepEqual(windowsFor(-1, { kind: 'tumbling', sizeMs: 1000 }), [{ start: -1000, end: 0 }]);
  assert.equal(paneStart(-1, 60_000), -60_000);
});

test('windowsOverlapping lists the tumbling windows that share a point with a span', () => {
  fc.assert(
    fc.property(timeArb, fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 5_000 }), (start, length, size) => {
      const span = { start, end: start + length };
      const got = windowsOverlapping(span, size);
      for (const w of got) assert.ok(w.start < span.end && w.end > span.start && w.start % size === 0 && w.end - w.start === size);
      // Contiguous, and no overlapping window missing at either side.
      got.slice(1).forEach((w, i) => assert.equal(w.start, got[i]!.end));
      assert.ok(got[0]!.start <= span.start && got.at(-1)!.end >= span.end);
    }),
  );
});

test('a gap strictly greater than G starts a session; a session spans [first, last + G)', () => {
  assert.equal(startsNewSession(1000, 1000 + 300_000, 300_000), false);
  assert.equal(startsNewSession(1000, 1001 + 300_000, 300_000), true);
  assert.deepEqual(sessionBounds(10, 20, 5), { start: 10, end: 25 });
});

test('a window is within a range when [start, end) lies inside [from, to)', () => {
  const b = { start: 60, end: 120 };
  assert.equal(withinRange(b, {}), true);
  assert.equal(withinRange(b, { from: 60, to: 120 }), true);
  assert.equal(withinRange(b, { from: 61 }), false);
  assert.equal(withinRange(b, { to: 119 }), false);
});

test('inputRange widens session ranges by G before and through `to`, and keeps fixed ones', () => {
  const tumbling = { kind: 'tumbling' as const, sizeMs: 60 };
  assert.deepEqual(inputRange(tumbling, { from: 600, to: 1200 }), { from: 600, to: 1200 });
  assert.deepEqual(inputRange({ kind: 'session', gapMs: 50 }, { from: 600, to: 1200 }), { from: 550, to: 1201 });
  assert.deepEqual(inputRange({ kind: 'session', gapMs: 50 }, {}), {});
});
