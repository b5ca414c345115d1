import {
  TOPICS,
  VIEWS,
  decodeEvent,
  type BatchEvents,
  type ConsumeOptions,
  type ConsumerHandle,
  type EventLog,
  type Logger,
  type Offsets,
  type RecordBatch,
  type StateStore,
  type ValidateOptions,
  type ViewDefinition,
} from '@lambda/shared';
import { compileView } from './compile.ts';
import { speedBatches, speedDeadLetters, speedEvents, speedLag, speedLate, speedStateSize, speedWatermark } from './metrics.ts';
import { Processor, recordsBatch, type LateEvent } from './processor.ts';
import { evictionCutoff, readBatchHighWaterMark } from './retention.ts';
import { layerWatermark, readProgress, type PartitionProgress } from './watermark.ts';

export const SPEED_GROUP = 'speed';
export const DEFAULT_DEDUPE_HORIZON_MS = 10 * 60_000;
export const DEFAULT_RETENTION_MARGIN_MS = 60 * 60_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/**
 * Records per processed batch, at most. Per batch, every window a key's pane touches and every
 * session list a key holds is read and written once, so larger batches do less per event (10,000
 * measured 12% faster than 5,000 on Redis; 20,000 another 10% less CPU than 10,000), at the price
 * of a longer commit script, during which Redis serves nobody else. A bound above a fetched
 * partition's record count (see SPEED_FETCH_BYTES) makes each fetched partition one batch, where a
 * smaller one leaves a remainder batch behind it (1M events: 39 batches instead of 75 with 16 MiB
 * fetches and 20,000 records, node's main thread 11.3-11.9 s instead of 12.5-13.2 s).
 */
export const DEFAULT_MAX_BATCH_RECORDS = 100_000;
/**
 * Bytes per fetch: a partition's quarter of 32 MiB holds about 54,000 of the workload's records.
 * While kafkajs decoded the records, a larger fetch was a longer pause and no faster; with the
 * consumer thread decoding record batches itself (record-batches.ts), the processing thread is the
 * bound, and larger batches save it work. 3M events, one batch per fetched partition: 246-260k
 * events/s with 32 MiB against 209-228k with 16 MiB, Redis 2.0-2.2 s against 2.9-3.1 s of CPU;
 * 64 MiB did no better (234-263k).
 */
export const SPEED_FETCH_BYTES = 32 << 20;
/**
 * The edge rejected far-future events against its own clock; the speed layer re-validates only to
 * keep foreign producers' garbage out of the views (the archiver dead-letters it), with a skew
 * wide enough that clock differences between hosts never reject an accepted event.
 */
const SPEED_SKEW_MS = 24 * 3_600_000;
const HOUSEKEEPING_MS = 5_000;

export interface SpeedLayerOptions {
  log: EventLog;
  store: StateStore;
  dataDir: string;
  views?: readonly ViewDefinition[];
  once?: boolean;
  maxBatchRecords?: number;
  dedupeHorizonMs?: number;
  retentionMarginMs?: number;
  idleTimeoutMs?: number;
  logger?: Logger;
  /**
   * The processing clock handed to the processor (processing-time views, last-activity stamps);
   * default the wall clock. Demos and tests replay a stream with a clock that follows its arrivals.
   */
  now?: () => number;
}

export interface SpeedStats {
  batches: number;
  records: number;
  events: number;
  duplicates: number;
  invalid: number;
  late: number;
}

export interface SpeedLayer {
  /** Finishes the batch in flight (committed), leaves the group, and resolves `done`. */
  stop(): Promise<void>;
  readonly done: Promise<SpeedStats>;
  /** The layer watermark of a view as this instance sees it (its own partitions). */
  watermark(view: string): number | null;
}

/**
 * How the speed layer reads the events topic, callbacks aside: the speed bench runs a consumer of
 * these alone, with no views, to show how much of the consume-only rate is left once the events
 * are decoded at all.
 */
export async function speedConsumeOptions(
  log: EventLog,
  maxBatchRecords = DEFAULT_MAX_BATCH_RECORDS,
): Promise<Pick<ConsumeOptions, 'topic' | 'maxBatchRecords' | 'fetchBytes' | 'concurrentPartitions' | 'fetchAhead' | 'worker' | 'decodeEvents'>> {
  return {
    topic: TOPICS.events,
    maxBatchRecords,
    fetchBytes: SPEED_FETCH_BYTES,
    // State is per partition: while one partition's commit runs in Redis, another's batch is planned.
    concurrentPartitions: await log.partitionCount(TOPICS.events),
    // The store's commit is fenced on its offsets: a batch landing after its partition moved on
    // to another member is applied once, by whichever commits first.
    fetchAhead: true,
    // Kafka: fetching and decoding run on a worker thread (kafkajs, and our record-batch decoder),
    // so their garbage and CPU stay off the thread that plans and commits (embedded log: ignored).
    worker: true,
    // And parses and validates the events there: a quarter of this thread's time otherwise. The
    // records themselves are not read here (the processor reads the events), so they stay there.
    decodeEvents: { maxFutureSkewMs: SPEED_SKEW_MS, eventsOnly: true },
  };
}

export async function startSpeedLayer(opts: SpeedLayerOptions): Promise<SpeedLayer> {
  const views = (opts.views ?? VIEWS).map(compileView);
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const marginMs = opts.retentionMarginMs ?? DEFAULT_RETENTION_MARGIN_MS;
  const processor = new Processor(opts.store, {
    views,
    dedupeHorizonMs: opts.dedupeHorizonMs ?? DEFAULT_DEDUPE_HORIZON_MS,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const stats: SpeedStats = { batches: 0, records: 0, events: 0, duplicates: 0, invalid: 0, late: 0 };
  const progress = new Map<number, PartitionProgress>();
  const maxLag = Math.max(...views.map((v) => v.def.watermarkLagMs));
  let hwm: number | null = await readBatchHighWaterMark(opts.dataDir);

  const watermark = (lagMs: number) => layerWatermark([...progress.values()], lagMs, idleTimeoutMs, Date.now());

  // Progress of the assigned partitions, as the store holds it, so the watermark survives restarts.
  const loadProgress = async (partitions: number[]) => {
    const stored = await readProgress(opts.store);
    for (const p of [...progress.keys()]) if (!partitions.includes(p)) progress.delete(p);
    for (const p of partitions) {
      const s = stored.get(p);
      if (s && !progress.has(p)) progress.set(p, { maxTime: s.maxTime, lastActivity: Date.now() });
    }
  };

  const sideOutput = async (late: LateEvent[]) => {
    await opts.log.produce(
      TOPICS.late,
      late.map((l) => ({ key: l.event.user_id, value: JSON.stringify({ view: l.view, partition: l.partition, offset: l.offset, watermark: l.watermark, event: l.event }) })),
    );
  };

  let handle: ConsumerHandle | null = null;
  // Not async: the batch's records are only read here, and a suspended async function would keep them.
  const onBatch = (batch: RecordBatch) => {
    const now = Date.now();
    // One limits object for the batch, not one per record.
    const limits: ValidateOptions = { now, maxFutureSkewMs: SPEED_SKEW_MS };
    // Packed events: made when read, so the processor's plan decides how long each lives; the
    // records are not read at all.
    const records =
      batch.events ??
      recordsBatch(batch.records.map((r) => ({ offset: r.offset, event: decodeEvent(r.value, limits) })));
    return processBatch(batch.partition, records, now);
  };
  const processBatch = async (partition: number, records: BatchEvents, now: number) => {
    const cutoff = evictionCutoff(hwm, watermark(maxLag), marginMs);
    const outcome = await processor.process(partition, records, { evictBefore: cutoff, onLate: sideOutput });
    stats.batches++;
    stats.records += records.length;
    stats.events += outcome.events;
    stats.duplicates += outcome.duplicates;
    stats.invalid += outcome.invalid;
    speedBatches.inc({ result: outcome.applied ? 'applied' : 'already_applied' });
    speedEvents.inc({ outcome: 'applied' }, outcome.events);
    speedEvents.inc({ outcome: 'duplicate' }, outcome.duplicates);
    speedEvents.inc({ outcome: 'invalid' }, outcome.invalid);
    for (const [view, n] of outcome.late) {
      stats.late += n;
      speedLate.inc({ view, policy: views.find((v) => v.def.name === view)!.def.latePolicy }, n);
    }
    const prev = progress.get(partition);
    const maxTime = outcome.maxTime ?? prev?.maxTime ?? null;
    progress.set(partition, { maxTime, lastActivity: now });
    // Group offsets are for lag monitoring only: the store's offsets are the truth. Not awaited:
    // the commit goes through the consumer's thread, which may be decoding a fetch meanwhile, and
    // the partition's next batch would wait for it; a stop lets it land.
    void handle?.commit(new Map([[partition, outcome.nextOffset]]) as Offsets).catch((err: unknown) => {
      opts.logger?.warn({ err, partition }, 'could not commit the speed group offset (monitoring only)');
    });
  };

  // The store owns the offsets; a partition it has never seen starts at the beginning of the log.
  const storedOffsets = async (partitions: number[]) => {
    const stored = await opts.store.offsets(partitions);
    return new Map(partitions.map((p) => [p, stored.get(p) ?? 0]));
  };
  handle = await opts.log.consume({
    ...(await speedConsumeOptions(opts.log, opts.maxBatchRecords)),
    group: SPEED_GROUP,
    untilEnd: opts.once === true,
    startOffsets: storedOffsets,
    // Group offsets trail the store and may belong to an earlier store under the same group.
    drainedOffsets: storedOffsets,
    onAssignment: async (partitions) => {
      await loadProgress(partitions);
      // Another member holds the rest now: their seen indexes would only be reloaded if they came back.
      processor.keepOnly(partitions);
      opts.logger?.info({ partitions }, 'speed layer partitions assigned');
    },
    onBatch,
  });

  const housekeeping = async () => {
    hwm = (await readBatchHighWaterMark(opts.dataDir)) ?? hwm;
    for (const v of views) {
      const w = watermark(v.def.watermarkLagMs);
      if (w !== null) speedWatermark.set({ view: v.def.name }, w);
    }
    const [ends, stored, dlq, size] = await Promise.all([
      opts.log.endOffsets(TOPICS.events),
      opts.store.offsets([...progress.keys()]),
      opts.log.endOffsets(TOPICS.dlq),
      opts.store.size(),
    ]);
    for (const p of progress.keys()) speedLag.set({ partition: String(p) }, Math.max(0, (ends.get(p) ?? 0) - (stored.get(p) ?? 0)));
    speedDeadLetters.set([...dlq.values()].reduce((a, b) => a + b, 0));
    speedStateSize.set(size);
  };
  const timer = setInterval(() => void housekeeping().catch((err: unknown) => opts.logger?.warn({ err }, 'speed housekeeping failed')), HOUSEKEEPING_MS);
  timer.unref();

  const done = handle.done.then(
    async () => {
      clearInterval(timer);
      await housekeeping().catch(() => undefined);
      return stats;
    },
    (err: unknown) => {
      clearInterval(timer);
      throw err;
    },
  );
  return {
    stop: async () => {
      await handle?.stop();
    },
    done,
    watermark: (name) => watermark(views.find((v) => v.def.name === name)?.def.watermarkLagMs ?? 0),
  };
}
