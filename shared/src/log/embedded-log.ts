import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.ts';
import { EmbeddedConsumer } from './embedded-consumer.ts';
import { createFileAtomic, readJsonIfExists, writeFileAtomic } from './files.ts';
import { acquireLock } from './lock.ts';
import { partitionForKey } from './murmur2.ts';
import { PartitionWriter } from './partition-writer.ts';
import { SegmentCursor } from './segment.ts';
import {
  DEFAULT_TOPICS,
  type ConsumeOptions,
  type ConsumerHandle,
  type EventLog,
  type LogRecord,
  type Offsets,
  type ProduceRecord,
  type TopicSpec,
} from './types.ts';

export interface EmbeddedLogOptions {
  logger?: Logger;
  /** Take the writer lock now (fail fast) rather than on the first produce. */
  forProducing?: boolean;
  /** A partition rolls to a new segment file once its current one reaches this size. */
  segmentBytes?: number;
  /** How often a consumer at the end looks for records appended by another process. */
  pollIntervalMs?: number;
  /** How long to wait for a lock held by another process (see lock.ts). */
  lockWaitMs?: number;
}

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/**
 * The embedded default: a durable, partitioned, file-backed log under one directory.
 *
 *   <dir>/<topic>/topic.json                 partition count
 *   <dir>/<topic>/<partition>/<base>.seg     append-only segments (segment.ts)
 *   <dir>/@groups/<group>/<topic>.json       committed offsets
 *   <dir>/@writer.lock, <dir>/@groups/<group>/<topic>.lock
 *
 * One process at a time appends (the writer lock, taken on the first produce); any number of
 * processes read, following the files. One member per consumer group and topic at a time, which
 * is assigned every partition. Compaction is not implemented: a compacted topic keeps all records,
 * which a reader keeping the last record per key cannot tell apart.
 */
export class EmbeddedLog implements EventLog {
  readonly kind = 'embedded' as const;
  private readonly topics = new Map<string, number>();
  private readonly writers = new Map<string, Promise<PartitionWriter>>();
  /** Durable end offset per partition this process appends to. */
  private readonly writerEnds = new Map<string, number>();
  private readonly tails = new Map<string, SegmentCursor>();
  private readonly roundRobin = new Map<string, number>();
  private readonly commits = new Map<string, Promise<void>>();
  private readonly consumers = new Set<EmbeddedConsumer>();
  private readonly appended = new EventEmitter().setMaxListeners(0);
  private writerLock: Promise<() => Promise<void>> | null = null;
  private lockLost: Error | null = null;
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly opts: EmbeddedLogOptions,
  ) {}

  static async open(dir: string, opts: EmbeddedLogOptions = {}): Promise<EmbeddedLog> {
    const log = new EmbeddedLog(path.resolve(dir), opts);
    await mkdir(log.dir, { recursive: true });
    await log.ensureTopics(DEFAULT_TOPICS);
    if (opts.forProducing) await log.takeWriterLock();
    return log;
  }

  get pollIntervalMs(): number {
    return this.opts.pollIntervalMs ?? 50;
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    for (const spec of specs) {
      checkTopicName(spec.name);
      if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
        throw new Error(`topic ${spec.name}: partitions must be a positive integer`);
      }
      await createFileAtomic(path.join(this.dir, spec.name, 'topic.json'), JSON.stringify(spec));
    }
  }

  async partitionCount(topic: string): Promise<number> {
    const known = this.topics.get(topic);
    if (known !== undefined) return known;
    checkTopicName(topic);
    const spec = await readJsonIfExists<TopicSpec>(path.join(this.dir, topic, 'topic.json'));
    if (!spec) throw new Error(`unknown topic ${topic} in the embedded log at ${this.dir}`);
    this.topics.set(topic, spec.partitions);
    return spec.partitions;
  }

  async produce(topic: string, records: ProduceRecord[]): Promise<void> {
    if (records.length === 0) return;
    const partitions = await this.partitionCount(topic);
    const byPartition = new Map<number, ProduceRecord[]>();
    for (const r of records) {
      const p = this.choosePartition(topic, r, partitions);
      let list = byPartition.get(p);
      if (!list) byPartition.set(p, (list = []));
      list.push(r);
    }
    await Promise.all([...byPartition].map(async ([p, list]) => (await this.writer(topic, p)).append(list)));
  }

  async endOffsets(topic: string): Promise<Offsets> {
    const n = await this.partitionCount(topic);
    const out: Offsets = new Map();
    for (let p = 0; p < n; p++) {
      const end = this.writerEnds.get(key(topic, p));
      if (end !== undefined) {
        out.set(p, end);
        continue;
      }
      let tail = this.tails.get(key(topic, p));
      if (!tail) this.tails.set(key(topic, p), (tail = new SegmentCursor(this.partitionDir(topic, p), Infinity)));
      out.set(p, await tail.seekEnd());
    }
    return out;
  }

  async committedOffsets(group: string, topic: string): Promise<Offsets> {
    const stored = await readJsonIfExists<Record<string, number>>(this.commitFile(group, topic));
    return new Map(Object.entries(stored ?? {}).map(([p, o]) => [Number(p), o]));
  }

  /** Merges into the stored offsets (partitions not named keep theirs), one commit at a time. */
  commit(group: string, topic: string, offsets: Offsets): Promise<void> {
    const file = this.commitFile(group, topic);
    const previous = this.commits.get(file) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        const merged = await this.committedOffsets(group, topic);
        for (const [p, o] of offsets) merged.set(p, o);
        await writeFileAtomic(file, JSON.stringify(Object.fromEntries(merged)));
      });
    this.commits.set(file, next);
    return next;
  }

  async consume(opts: ConsumeOptions): Promise<ConsumerHandle> {
    this.assertOpen();
    const partitions = await this.partitionCount(opts.topic);
    const release = await acquireLock(this.groupDir(opts.group, opts.topic) + '.lock', `consumer group ${opts.group} on ${opts.topic}`, {
      waitMs: this.opts.lockWaitMs,
      onCompromised: (err) => this.opts.logger?.error({ err, group: opts.group }, 'consumer group lock lost'),
    });
    const consumer = new EmbeddedConsumer(this, opts, partitions, release);
    this.consumers.add(consumer);
    consumer.done.then(
      () => this.consumers.delete(consumer),
      () => this.consumers.delete(consumer),
    );
    consumer.start();
    return consumer;
  }

  async read(topic: string, partition: number, fromOffset: number, max: number): Promise<LogRecord[]> {
    await this.checkPartition(topic, partition);
    const cursor = this.cursor(topic, partition, fromOffset);
    try {
      return await cursor.read(max, this.readLimit(topic, partition));
    } finally {
      await cursor.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.consumers].map((c) => c.stop()));
    await Promise.allSettled([...this.commits.values()]);
    for (const w of this.writers.values()) await (await w.catch(() => null))?.close();
    for (const t of this.tails.values()) await t.close();
    const lock = this.writerLock;
    this.writerLock = null;
    const release = await lock?.catch(() => null);
    // A lost lock was released by proper-lockfile itself: releasing it again throws.
    if (!this.lockLost) await release?.();
  }

  // Used by EmbeddedConsumer.

  cursor(topic: string, partition: number, from: number): SegmentCursor {
    return new SegmentCursor(this.partitionDir(topic, partition), from, topic, partition);
  }

  /** Records at or past this are not yet durable, so this process's readers must not see them. */
  readLimit(topic: string, partition: number): number {
    return this.writerEnds.get(key(topic, partition)) ?? Infinity;
  }

  /** Resolves on the next append to the topic in this process, after `ms`, or on abort. */
  waitForAppend(topic: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.appended.off(topic, done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.appended.on(topic, done);
      signal.addEventListener('abort', done);
    });
  }

  private writer(topic: string, partition: number): Promise<PartitionWriter> {
    const k = key(topic, partition);
    let w = this.writers.get(k);
    if (!w) {
      w = (async () => {
        this.assertOpen();
        await this.takeWriterLock();
        const writer = await PartitionWriter.open(this.partitionDir(topic, partition), this.opts.segmentBytes ?? 64 << 20, this.opts.logger, () => {
          this.writerEnds.set(k, writer.durableEnd);
          this.appended.emit(topic);
        });
        this.writerEnds.set(k, writer.durableEnd);
        return writer;
      })();
      this.writers.set(k, w);
      w.catch(() => this.writers.delete(k));
    }
    return w.then((writer) => {
      if (this.lockLost) throw this.lockLost;
      return writer;
    });
  }

  private takeWriterLock(): Promise<() => Promise<void>> {
    this.writerLock ??= acquireLock(path.join(this.dir, '@writer.lock'), `the embedded log at ${this.dir}`, {
      waitMs: this.opts.lockWaitMs,
      onCompromised: (err) => {
        this.lockLost = new Error(`lost the writer lock of the embedded log at ${this.dir}: ${err.message}`);
        this.opts.logger?.error({ err }, 'embedded log writer lock lost; producing stops');
      },
    });
    this.writerLock.catch(() => (this.writerLock = null));
    return this.writerLock;
  }

  private choosePartition(topic: string, r: ProduceRecord, partitions: number): number {
    if (r.partition !== undefined) {
      if (!Number.isInteger(r.partition) || r.partition < 0 || r.partition >= partitions) {
        throw new Error(`topic ${topic} has no partition ${r.partition}`);
      }
      return r.partition;
    }
    if (r.key !== null) return partitionForKey(r.key, partitions);
    const n = (this.roundRobin.get(topic) ?? 0) + 1;
    this.roundRobin.set(topic, n);
    return n % partitions;
  }

  private async checkPartition(topic: string, partition: number): Promise<void> {
    const n = await this.partitionCount(topic);
    if (!Number.isInteger(partition) || partition < 0 || partition >= n) throw new Error(`topic ${topic} has no partition ${partition}`);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the embedded log is closed');
  }

  private partitionDir(topic: string, partition: number): string {
    return path.join(this.dir, topic, String(partition));
  }

  private groupDir(group: string, topic: string): string {
    if (group === '') throw new Error('a consumer group name must not be empty');
    // Dots too, so that no group maps to `.` or `..`.
    return path.join(this.dir, '@groups', encodeURIComponent(group).replace(/\./g, '%2E'), topic);
  }

  private commitFile(group: string, topic: string): string {
    checkTopicName(topic);
    return this.groupDir(group, topic) + '.json';
  }
}

function key(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}

function checkTopicName(topic: string): void {
  if (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..') throw new Error(`invalid topic name ${JSON.stringify(topic)}`);
}
