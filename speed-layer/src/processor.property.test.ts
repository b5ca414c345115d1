import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { MemoryStateStore, RedisStateStore, type Event, type StateStore, type ViewDefinition, type WorkloadViewSettings } from '@lambda/shared';
import { redisUrlFor } from '@lambda/shared/testing/services';
import { WORKLOAD_REFERENCES as REFERENCES, streamArb, type Row, type TestEvent } from '../../batch-layer/src/compiler/test-support.ts';
import { compileView } from './compile.ts';
import { Processor, recordsBatch, type InputRecord } from './processor.ts';
import { readSpeedView } from './reader.ts';
import { sortedRowTexts, splitBatches, workloadViewsWith } from './test-support.ts';


const settingsArb: fc.Arbitrary<WorkloadViewSettings> = fc.record({
  errorRateMinViews: fc.constantFrom(1, 2, 20),
  errorRateThreshold: fc.constantFrom(0.05, 0.5),
  failedLoginsThreshold: fc.constantFrom(1, 2, 5),
});

export function toEvent(e: TestEvent): Event {
  const out: Record<string, unknown> = { event_id: e.event_id, type: e.type, event_time: e.event_time, user_id: e.user_id };
  if (e.product_id !== null) out.product_id = e.product_id;
  if (e.ad_id !== null) out.ad_id = e.ad_id;
  if (e.amount_cents !== null) out.amount_cents = e.amount_cents;
  return out as unknown as Event;
}

/** The workload's views under `update`: read with the definitions they were written with (a session state is named by its lateness too). */
function updateViews(settings: WorkloadViewSettings, lagMs: number): ViewDefinition[] {
  return workloadViewsWith({ latePolicy: 'update', watermarkLagMs: lagMs }, settings);
}

/** Feeds each partition's records to the processor in the given batches, partitions interleaved. */
async function runSpeed(store: StateStore, log: TestEvent[], settings: WorkloadViewSettings, cuts: number[], lagMs: number): Promise<void> {
  await runViews(store, log, updateViews(settings, lagMs), cuts);
}

async function runViews(store: StateStore, log: TestEvent[], defs: ViewDefinition[], cuts: number[]): Promise<void> {
  const views = defs.map(compileView);
  const processor = new Processor(store, { views, dedupeHorizonMs: Infinity, now: () => 0 });
  const byPartition = new Map<number, InputRecord[]>();
  for (const e of log) byPartition.set(e.log_partition, [...(byPartition.get(e.log_partition) ?? []), { offset: e.log_offset, event: toEvent(e) }]);
  const queues = [...byPartition].map(([p, recs]) => ({ p, batches: splitBatches(recs, cuts) }));
  while (queues.some((q) => q.batches.length > 0)) {
    for (const q of queues) {
      const batch = q.batches.shift();
      if (batch) await processor.process(q.p, recordsBatch(batch), { evictBefore: -Infinity });
    }
  }
}

async function assertEqualsReference(store: StateStore, log: TestEvent[], settings: WorkloadViewSettings, lagMs: number): Promise<void> {
  for (const view of updateViews(settings, lagMs)) {
    const speed = await readSpeedView(store, view);
    const batch = REFERENCES[view.name]!(log, settings);
    assert.deepEqual(sortedRowTexts(speed), sortedRowTexts(batch), `view ${view.name}`);
  }
}

const caseArb = fc.record({
  log: streamArb,
  settings: settingsArb,
  cuts: fc.array(fc.nat(), { maxLength: 8 }),
  // Zero lag makes many events late: under `update` they are applied all the same.
  lagMs: fc.constantFrom(0, 30_000, 10 * 60_000),
});

test('speed views under `update` equal the batch reference, bit for bit (memory store)', async () => {
  await fc.assert(
    fc.asyncProperty(caseArb, async ({ log, settings, cuts, lagMs }) => {
      const store = await MemoryStateStore.open({ dir: null });
      await runSpeed(store, log, settings, cuts, lagMs);
      await assertEqualsReference(store, log, settings, lagMs);
    }),
    { numRuns: 300 },
  );
});

test('speed views under `update` equal the batch reference, bit for bit (Redis)', async (t: TestContext) => {
  const url = await redisUrlFor(t);
  if (!url) return;
  await fc.assert(
    fc.asyncProperty(caseArb, async ({ log, settings, cuts, lagMs }) => {
      const store = await RedisStateStore.open({ url, keyPrefix: `test:${randomUUID()}:` });
      try {
        await runSpeed(store, log, settings, cuts, lagMs);
        await assertEqualsReference(store, log, settings, lagMs);
      } finally {
        await store.clear();
        await store.close();
      }
    }),
    { numRuns: 40 },
  );
});

test('replaying every batch a second time changes nothing', async () => {
  await fc.assert(
    fc.asyncProperty(caseArb, async ({ log, settings, cuts }) => {
      const store = await MemoryStateStore.open({ dir: null });
      await runSpeed(store, log, settings, cuts, 0);
      await runSpeed(store, log, settings, [...cuts, 3], 0);
      await assertEqualsReference(store, log, settings, 0);
    }),
    { numRuns: 100 },
  );
});

/**
 * What a fixed-window view under `drop` holds, by brute force from the spec: per partition in log
 * order, an event counts in each window holding it whose end the partition's watermark (max event
 * time before it, minus the lag) has not reached; each window's rows are then the reference's
 * over the events it kept.
 */
function dropReference(view: ViewDefinition, log: TestEvent[], lagMs: number, settings: WorkloadViewSettings): Row[] {
  const w = view.window as { sizeMs: number; slideMs?: number };
  const slide = w.slideMs ?? w.sizeMs;
  const kept = new Map<number, TestEvent[]>();
  const partitions = [...new Set(log.map((e) => e.log_partition))];
  for (const p of partitions) {
    let max: number | null = null;
    const seen = new Set<string>();
    for (const e of log.filter((x) => x.log_partition === p).sort((a, b) => a.log_offset - b.log_offset)) {
      if (seen.has(e.event_id)) continue;
      seen.add(e.event_id);
      const watermark = max === null ? -Infinity : max - lagMs;
      for (let k = Math.floor((e.event_time - w.sizeMs) / slide); k * slide <= e.event_time; k++) {
        const start = k * slide;
        if (e.event_time >= start && e.event_time < start + w.sizeMs && watermark < start + w.sizeMs) kept.set(start, [...(kept.get(start) ?? []), e]);
      }
      max = max === null ? e.event_time : Math.max(max, e.event_time);
    }
  }
  return [...kept].flatMap(([start, events]) => REFERENCES[view.name]!(events, settings).filter((r) => Number(r.window_start) === start));
}

test('under `drop`, an event late for some of its sliding windows counts in the open ones only (brute force)', async () => {
  await fc.assert(
    fc.asyncProperty(caseArb, async ({ log, settings, cuts, lagMs }) => {
      const store = await MemoryStateStore.open({ dir: null });
      const views = workloadViewsWith({ latePolicy: 'drop', watermarkLagMs: lagMs }, settings).filter((v) => v.window.kind !== 'session');
      await runViews(store, log, views, cuts);
      for (const view of views) {
        assert.deepEqual(sortedRowTexts(await readSpeedView(store, view)), sortedRowTexts(dropReference(view, log, lagMs, settings)), `view ${view.name}`);
      }
    }),
    { numRuns: 200 },
  );
});
