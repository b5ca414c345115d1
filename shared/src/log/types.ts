import type { Event, EventType } from '../events/schema.ts';

/**
 * The event log: one narrow interface with two back ends, Kafka (kafkajs) and the embedded
 * file-backed log (the no-install default). Every layer talks to the log only through this.
 *
 * Offsets follow Kafka: per partition, a record's offset is its position; an "end offset" is the
 * offset the next record will get; a committed offset is the next offset the group will read.
 */

export const TOPICS = {
  events: 'events',
  late: 'events.late',
  dlq: 'events.dlq',
  userProfiles: 'user-profiles',
} as const;

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Log compaction (keep the last record per key), as for `user-profiles`. */
  compacted?: boolean;
}

/** The platform's topics, created idempotently by `services:up` and by the embedded log on open. */
export const DEFAULT_TOPICS: TopicSpec[] = [
  { name: TOPICS.events, partitions: 3 },
  { name: TOPICS.late, partitions: 1 },
  { name: TOPICS.dlq, partitions: 1 },
  { name: TOPICS.userProfiles, partitions: 3, compacted: true },
];

export interface ProduceRecord {
  /** Records with the same key go to the same partition, so per-key order is kept. */
  key: string | null;
  value: string;
  /** Explicit partition; otherwise chosen from the key (murmur2, as Kafka's default partitioner). */
  partition?: number;
}

export interface LogRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: string;
  /**
   * The value's UTF-8 bytes, where the back end has them without copying (Kafka): a consumer that
   * only moves records on, as the archiver does, then never decodes `value`.
   */
  valueBytes?: Buffer;
  /** Append time in epoch ms (log time, not event time). */
  timestamp: number;
}

/** Records of one partition, in offset order. */
export interface RecordBatch {
  topic: string;
  partition: number;
  records: LogRecord[];
  /**
   * Each record's value as a validated event, null where it is not one, when the consumer decoded
   * them on its own thread (`ConsumeOptions.decodeEvents`); absent otherwise.
   */
  events?: BatchEvents;
}

/**
 * A batch's events by record number; each is made anew when read, so none outlives its use. What
 * every event has (type, id, time) is read without making the event: a consumer that makes only
 * the events it uses (the speed layer: those of the types its views take) makes no object for the
 * rest.
 */
export interface BatchEvents {
  readonly length: number;
  at(i: number): Event | null;
  /** The offset of record `i`: a consumer of the events need not read the records for it. */
  offset(i: number): number;
  /** The type of record `i`'s event; null where `at(i)` is. */
  type(i: number): EventType | null;
  /** The event_id and event_time of record `i`'s event, where it has one. */
  eventId(i: number): string;
  eventTime(i: number): number;
}

/** Per-partition offsets. */
export type Offsets = Map<number, number>;

export interface ConsumeOptions {
  group: string;
  topic: string;
  /**
   * Where to start on partitions as they are assigned. Partitions missing from the result start at
   * the group's committed offset, or at the beginning of the log when none is committed. Consumers
   * that keep their own offsets (the speed layer's state store, the archive's progress file) answer
   * this so that a restart or a rebalance resumes exactly where their durable state ends.
   */
  startOffsets?: (partitions: number[]) => Promise<Offsets>;
  /**
   * Stop once every partition has been read up to the end offsets observed when consuming began
   * (`--once` runs: drain, flush, commit, exit). `done` resolves then. Partitions another member of
   * the group holds count once `drainedOffsets` reach their end, so each of several `--once`
   * members finishes when the log is drained, whoever drained it.
   */
  untilEnd?: boolean;
  /**
   * With `untilEnd`: how far the group's shared durable state has got on partitions, whoever holds
   * them (the speed layer's state store). Without it, the group's committed offsets, which are
   * right only where they never run ahead of that state: a state store emptied and rebuilt under
   * the same group would otherwise end a run before it has read anything.
   */
  drainedOffsets?: (partitions: number[]) => Promise<Offsets>;
  /** Upper bound on records per delivered batch. */
  maxBatchRecords?: number;
  /**
   * Kafka: the most one fetch brings, in bytes, a quarter of it per partition (default 16 MiB).
   * kafkajs decodes a whole fetch on the JavaScript thread in one go, a pause for everything else
   * the process does: a consumer that waits on other I/O while it reads (the archiver's DuckDB
   * flushes) fetches less at a time; one that wants large batches (the speed layer) more.
   */
  fetchBytes?: number;
  /**
   * How many partitions' batches may be in `onBatch` at once (default 1), for consumers whose state
   * is per partition: one partition's processing then overlaps another's I/O. A partition never has
   * two batches in flight. The embedded log delivers one batch at a time whatever this says.
   */
  concurrentPartitions?: number;
  /**
   * Kafka: fetch the next batches while the last ones are still in `onBatch` (default false), so
   * that fetching and decoding overlap processing. A member may then rejoin the group during a
   * rebalance before its batch in flight has landed, so the partition's next owner can start on
   * records this member is still processing, and this member's group commit for that batch may be
   * refused: only for consumers whose own commit is fenced (the speed layer's state store).
   */
  fetchAhead?: boolean;
  /**
   * Kafka: run the consumer (kafkajs: fetching, decoding records) on a worker thread (default
   * false); batches reach `onBatch` here as their bytes, and records decode their key and value when
   * read. For consumers whose own processing keeps this thread busy (the speed layer). Callbacks
   * still run on this thread. The embedded log reads its files here whatever this says.
   */
  worker?: boolean;
  /**
   * Kafka with `worker`: also decode each record's value as an event on the worker thread (as
   * `decodeEvent` does, against that thread's clock with this skew) and deliver them in the
   * batch's `events`, so that this thread does not parse at all. Other consumers ignore it.
   *
   * `eventsOnly`: the records themselves do not come over, and reading a batch's `records` throws.
   * For a consumer that reads only the events and their offsets (the speed layer): packing the
   * records for the crossing cost the worker 0.2-0.4 us per record, and nobody read them.
   */
  decodeEvents?: { maxFutureSkewMs: number; eventsOnly?: boolean };
  /** Called with each batch; the next batch of the same partition waits for the returned promise. */
  onBatch: (batch: RecordBatch) => Promise<void>;
  /** Called when partitions are assigned or revoked (after a rebalance). */
  onAssignment?: (partitions: number[]) => void | Promise<void>;
  /** Called when the whole consumer goes idle: every assigned partition is at its end. */
  onIdle?: () => void | Promise<void>;
}

export interface ConsumerHandle {
  /** Commits the group's offsets (next offset to read, per partition). */
  commit(offsets: Offsets): Promise<void>;
  /** Stops fetching, waits for the batch in flight, and leaves the group. */
  stop(): Promise<void>;
  /** Resolves when consuming ends (stop(), or the end was reached with `untilEnd`); rejects on failure. */
  readonly done: Promise<void>;
}

export interface EventLog {
  readonly kind: 'embedded' | 'kafka';
  /** Creates missing topics; existing ones are left as they are. */
  ensureTopics(specs: TopicSpec[]): Promise<void>;
  /** Resolves once the records are durable (fsync'd, or acknowledged by all in-sync replicas). */
  produce(topic: string, records: ProduceRecord[]): Promise<void>;
  partitionCount(topic: string): Promise<number>;
  /** The offset the next record will get, per partition. */
  endOffsets(topic: string): Promise<Offsets>;
  committedOffsets(group: string, topic: string): Promise<Offsets>;
  consume(opts: ConsumeOptions): Promise<ConsumerHandle>;
  /** Reads records of one partition from `fromOffset`, at most `max` (for tools and tests). */
  read(topic: string, partition: number, fromOffset: number, max: number): Promise<LogRecord[]>;
  close(): Promise<void>;
}
