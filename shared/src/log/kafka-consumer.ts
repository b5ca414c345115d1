import type { Batch, Consumer, EachBatchPayload } from 'kafkajs';
import type { KafkaLog } from './kafka-log.ts';
import { FetchedRecord, FetchedRecords } from './record-batches.ts';
import type { ConsumeOptions, ConsumerHandle, LogRecord, Offsets, RecordBatch } from './types.ts';

/** How often an `untilEnd` member looks where the partitions other members hold have got to. */
const PEER_POLL_MS = 500;

/** A fetch's size when the consumer does not choose one (see `ConsumeOptions.fetchBytes`). */
const DEFAULT_FETCH_BYTES = 16 << 20;

/** kafkajs's fetch limits for a fetch of `fetchBytes`: a quarter of it per partition. */
export function fetchLimits(fetchBytes = DEFAULT_FETCH_BYTES): { maxBytes: number; maxBytesPerPartition: number } {
  return { maxBytes: fetchBytes, maxBytesPerPartition: Math.max(1, Math.floor(fetchBytes / 4)) };
}

/**
 * A consumer-group member over kafkajs `eachBatch`. Offsets are resolved by hand after each
 * delivered chunk (so a stop mid-batch re-fetches the rest) and committed only through commit().
 */
export class KafkaConsumer implements ConsumerHandle {
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private rejectDone!: (e: unknown) => void;
  private readonly consumer: Consumer;
  private readonly topic: string;
  /** Start offsets of the current assignment, per partition; resolved once per group join. */
  private assignment: Promise<Map<number, number>> = Promise.resolve(new Map());
  /** Partitions already positioned (sought to their start offset) in the current assignment. */
  private positioned = new Set<number>();
  private ends: Offsets | null = null;
  private readonly reached = new Set<number>();
  private assigned: number[] = [];
  private deliveredSinceFetch = 0;
  private idle = false;
  private failure: unknown = null;
  private stopping: Promise<void> | null = null;
  private peerWatch: NodeJS.Timeout | null = null;
  /** kafkajs's `run`, which resolves once the first join of the group is over. */
  private running: Promise<void> = Promise.resolve();
  /** Per partition, the delivered batch still in `onBatch` (with `fetchAhead`, after `eachBatch` returned). */
  private readonly inFlight = new Map<number, Promise<void>>();

  constructor(
    private readonly log: KafkaLog,
    private readonly opts: ConsumeOptions,
  ) {
    this.topic = log.name(opts.topic);
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.consumer = log.kafka.consumer({
      groupId: log.name(opts.group),
      allowAutoTopicCreation: false,
      // The broker answers at once when data is there.
      minBytes: 1,
      maxWaitTimeInMs: 100,
      ...fetchLimits(opts.fetchBytes),
    });
    const { GROUP_JOIN, FETCH, CRASH } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, ({ payload }) => this.onJoin(payload.memberAssignment[this.topic] ?? []));
    this.consumer.on(FETCH, () => this.onFetch());
    this.consumer.on(CRASH, ({ payload }) => {
      if (!payload.restart) this.fail(payload.error);
    });
  }

  async start(): Promise<void> {
    if (this.opts.untilEnd) {
      const marks = await this.log.watermarks(this.opts.topic);
      this.ends = new Map(marks.map((w) => [w.partition, w.high]));
      // An empty partition is at its end whoever holds it.
      for (const w of marks) if (w.high <= w.low) this.reached.add(w.partition);
    }
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    this.running = this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.opts.concurrentPartitions ?? 1,
      eachBatch: (payload) => this.eachBatch(payload),
    });
    await this.running;
    if (this.ends && !this.stopping) {
      this.peerWatch = setInterval(() => void this.checkPeers().catch((e: unknown) => this.fail(e)), PEER_POLL_MS);
      this.peerWatch.unref();
    }
  }

  async commit(offsets: Offsets): Promise<void> {
    await this.consumer.commitOffsets(
      [...offsets].map(([partition, offset]) => ({ topic: this.topic, partition, offset: String(offset) })),
    );
  }

  stop(): Promise<void> {
    if (this.peerWatch) clearInterval(this.peerWatch);
    // kafkajs ignores a stop while its first join is in flight (its runner is not running yet) and
    // then restarts the consumer whose connections the disconnect closed: the member would go on
    // after `done`. So the join is let finish first; it takes long only while the group waits for
    // a member that died to time out.
    this.stopping ??= this.running
      .catch(() => undefined)
      // Batches in flight land while the member still belongs to the group, so their commits count.
      .then(() => this.settled())
      .then(() => this.consumer.disconnect())
      .then(
        () => (this.failure === null ? this.resolveDone() : this.rejectDone(this.failure)),
        (e: unknown) => this.rejectDone(this.failure ?? e),
      );
    return this.stopping.then(() => this.done.catch(() => undefined));
  }

  private fail(e: unknown): void {
    this.failure ??= e;
    // Not awaited: disconnecting waits for the batch in flight, which may be the caller.
    setImmediate(() => void this.stop());
  }

  private onJoin(partitions: number[]): void {
    this.assigned = partitions;
    this.positioned = new Set();
    this.assignment = this.resolveStarts(partitions);
    this.assignment.catch((e: unknown) => this.fail(e));
  }

  private async resolveStarts(partitions: number[]): Promise<Map<number, number>> {
    // The batches this member still has in flight land first, so the offsets read below count them.
    await this.settled();
    await this.opts.onAssignment?.(partitions);
    const starts = (await this.opts.startOffsets?.(partitions)) ?? new Map<number, number>();
    // Positioned now, not at the first batch: where the group's committed offset is at the end of
    // a partition, no batch would ever come to reposition it from.
    for (const [partition, offset] of starts) {
      if (partitions.includes(partition)) this.consumer.seek({ topic: this.topic, partition, offset: String(offset) });
    }
    if (this.ends) {
      // A partition that has nothing to deliver before its end never yields a batch: settle it now.
      const committed = await this.log.committedOffsets(this.opts.group, this.opts.topic);
      const low = new Map((await this.log.watermarks(this.opts.topic)).map((w) => [w.partition, w.low]));
      for (const p of partitions) {
        const start = starts.get(p) ?? committed.get(p) ?? low.get(p) ?? 0;
        if (start >= (this.ends.get(p) ?? 0)) this.reached.add(p);
      }
      this.checkEnd();
    }
    return starts;
  }

  /**
   * With several members in the group, the partitions another member holds reach their end without
   * this one; `drainedOffsets` (else the group's committed offsets) show it. A member whose last
   * commit failed holds this one back only until it leaves: its partitions then come here,
   * positioned by `startOffsets`.
   */
  private async checkPeers(): Promise<void> {
    if (!this.ends || this.stopping) return;
    const open = [...this.ends.keys()].filter((p) => !this.reached.has(p));
    if (open.length === 0) return;
    const drained = this.opts.drainedOffsets
      ? await this.opts.drainedOffsets(open)
      : await this.log.committedOffsets(this.opts.group, this.opts.topic);
    for (const p of open) if ((drained.get(p) ?? 0) >= this.ends.get(p)!) this.reached.add(p);
    this.checkEnd();
  }

  private checkEnd(): void {
    if (this.ends && [...this.ends.keys()].every((p) => this.reached.has(p))) setImmediate(() => void this.stop());
  }

  /** Resolves once no delivered batch is in `onBatch` (their failures go to `fail`, never here). */
  private settled(): Promise<unknown> {
    return Promise.all(this.inFlight.values());
  }

  private onFetch(): void {
    if (this.deliveredSinceFetch === 0 && this.inFlight.size === 0 && this.assigned.length > 0 && !this.idle && this.opts.onIdle) {
      this.idle = true;
      Promise.resolve(this.opts.onIdle()).catch((e: unknown) => this.fail(e));
    }
    this.deliveredSinceFetch = 0;
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (this.failure !== null || this.stopping) return;
    const { partition } = batch;
    if (!this.positioned.has(partition)) {
      const start = (await this.assignment).get(partition);
      this.positioned.add(partition);
      if (start !== undefined && Number(batch.firstOffset()) !== start) {
        this.consumer.seek({ topic: this.topic, partition, offset: String(start) });
        return;
      }
    }
    const end = this.ends?.get(partition) ?? Infinity;
    const max = this.opts.maxBatchRecords ?? 5000;
    const records = toRecords(batch, this.opts.topic, end);
    for (let i = 0; i < records.length; i += max) {
      // kafkajs hands over a fetch's batches without yielding to the event loop: yield here, so
      // I/O that completed meanwhile (a DuckDB query, a Redis reply, a file write) is handled
      // between chunks, not once the whole fetch is done. A stop or a rebalance may come with it.
      await new Promise((resolve) => setImmediate(resolve));
      // A partition's batches reach onBatch one at a time, in order.
      await this.inFlight.get(partition);
      if (!isRunning() || isStale() || this.stopping || this.failure !== null) break;
      const chunk = records.length <= max ? records : records.slice(i, i + max);
      this.deliveredSinceFetch += chunk.length;
      this.idle = false;
      const last = chunk instanceof FetchedRecords ? chunk.offset(chunk.length - 1) : chunk[chunk.length - 1]!.offset;
      const work = this.deliver(partition, chunk, last + 1 >= end).finally(() => {
        if (this.inFlight.get(partition) === work) this.inFlight.delete(partition);
      });
      this.inFlight.set(partition, work);
      // kafkajs fetches again once eachBatch has returned for every batch of the last fetch. With
      // `fetchAhead` it returns while its last batch is still in onBatch, so the next fetch and its
      // decoding overlap that batch's commit instead of following it. That fetch starts after
      // `last` before the batch has landed; should the batch fail, the consumer stops anyway.
      if (!this.opts.fetchAhead) {
        await work;
        if (this.failure !== null) return;
      }
      resolveOffset(String(last));
      // Not caught: when another member joins or leaves, the heartbeat throws a rebalance error,
      // which kafkajs answers by rejoining the group (the new assignment starts at startOffsets);
      // other errors reach the CRASH handler.
      await heartbeat();
    }
  }

  /**
   * Not itself async: a suspended async function keeps its arguments, and these records would live
   * until the batch is processed, which on a worker's consumer (worker-consumer.thread.ts) is the
   * other thread's whole plan and commit, while this one decodes the next fetch: its young
   * generation's collections copied them over and over (1M events: 15% of its collection time).
   */
  private deliver(partition: number, records: LogRecord[] | FetchedRecords, atEnd: boolean): Promise<void> {
    let handed: Promise<void>;
    try {
      handed = this.opts.onBatch(records instanceof FetchedRecords ? fetchedBatch(this.opts.topic, partition, records) : { topic: this.opts.topic, partition, records });
    } catch (e) {
      handed = Promise.reject(e as Error);
    }
    return this.delivered(partition, handed, atEnd);
  }

  private async delivered(partition: number, handed: Promise<void>, atEnd: boolean): Promise<void> {
    try {
      await handed;
    } catch (e) {
      this.fail(e);
      return;
    }
    if (atEnd) {
      this.reached.add(partition);
      this.checkEnd();
    }
  }
}

/**
 * A batch as the Kafka consumer hands it out. Where the thread's kafkajs handed over columns
 * (kafkajs-records.ts) they are in `fetched`, and `records` are made from them when read: the
 * consumer thread of a worker consumer reads the columns only.
 */
export interface FetchedBatch extends RecordBatch {
  fetched?: FetchedRecords;
}

function fetchedBatch(topic: string, partition: number, fetched: FetchedRecords): FetchedBatch {
  let records: LogRecord[] | null = null;
  return {
    topic,
    partition,
    fetched,
    get records() {
      return (records ??= fetched.records(topic, partition));
    },
  };
}

/**
 * A fetched partition's records before `end`: kafkajs messages (string offsets, Buffer keys and
 * values) as records, or the columns where this thread's kafkajs handed over columns.
 */
function toRecords(batch: Batch, topic: string, end: number): LogRecord[] | FetchedRecords {
  const { partition, messages } = batch;
  const fetched: unknown = messages;
  if (fetched instanceof FetchedRecords) return fetched.slice(0, fetched.before(end));
  // Made to size: a fetched partition holds tens of thousands of records, and pushed one by one the
  // array was copied at each growth.
  const out = new Array<LogRecord>(messages.length);
  let n = 0;
  for (; n < messages.length; n++) {
    const m = messages[n]!;
    const offset = Number(m.offset);
    if (offset >= end) break;
    out[n] = new FetchedRecord(topic, partition, offset, m.timestamp, m.key, m.value ?? EMPTY);
  }
  out.length = n;
  return out;
}

const EMPTY = Buffer.alloc(0);
