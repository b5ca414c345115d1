import { Kafka, logLevel, Partitioners, type Admin, type LogEntry, type Producer } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import type { Logger } from '../logger.ts';
import { coalescer } from './coalescer.ts';
import { KafkaConsumer } from './kafka-consumer.ts';
import { startWorkerConsumer } from './worker-consumer.ts';
import type { ConsumeOptions, ConsumerHandle, EventLog, LogRecord, Offsets, ProduceRecord, TopicSpec } from './types.ts';

export interface KafkaLogOptions {
  brokers: string[];
  clientId?: string;
  /** Prefixed to every topic and group name (KAFKA_TOPIC_PREFIX), so that users of one cluster stay apart. */
  topicPrefix?: string;
  logger?: Logger;
}

interface Outgoing {
  topic: string;
  record: ProduceRecord;
}

/**
 * The event log on Kafka through kafkajs. Produce calls made while a send is in flight are
 * coalesced into the next `sendBatch`, so the idempotent producer has one request in flight and
 * concurrent callers share it.
 */
export class KafkaLog implements EventLog {
  readonly kind = 'kafka' as const;
  readonly kafka: Kafka;
  readonly prefix: string;
  private producer: Promise<Producer> | null = null;
  private admin: Promise<Admin> | null = null;
  private readonly partitions = new Map<string, number>();
  private readonly consumers = new Set<ConsumerHandle>();
  private readonly send = coalescer((items: Outgoing[]) => this.sendBatch(items));

  constructor(readonly opts: KafkaLogOptions) {
    this.prefix = opts.topicPrefix ?? '';
    this.kafka = new Kafka({
      clientId: opts.clientId ?? 'lambda-platform',
      brokers: opts.brokers,
      logLevel: logLevel.WARN,
      logCreator: () => (entry) => forwardKafkaLog(opts.logger, entry),
    });
  }

  name(topicOrGroup: string): string {
    return this.prefix + topicOrGroup;
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    const admin = await this.connectAdmin();
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(this.name(s.name)));
    if (missing.length === 0) return;
    // Resolves false rather than failing when a topic appeared meanwhile: that is fine too. In
    // KRaft the broker may not know yet a topic its controller has just created, and kafkajs's wait
    // for leaders then fails on UNKNOWN_TOPIC_OR_PARTITION (retriable) instead of waiting: the
    // retry finds the topics there, and reading their metadata waits until the broker knows them.
    await retryRetriable(() =>
      admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: this.name(s.name),
          numPartitions: s.partitions,
          configEntries: s.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
        })),
      }),
    );
    await retryRetriable(() => admin.fetchTopicMetadata({ topics: missing.map((s) => this.name(s.name)) }));
  }

  async partitionCount(topic: string): Promise<number> {
    const known = this.partitions.get(topic);
    if (known !== undefined) return known;
    const admin = await this.connectAdmin();
    const { topics } = await admin.fetchTopicMetadata({ topics: [this.name(topic)] });
    const n = topics[0]?.partitions.length ?? 0;
    if (n === 0) throw new Error(`unknown topic ${this.name(topic)} on Kafka`);
    this.partitions.set(topic, n);
    return n;
  }

  produce(topic: string, records: ProduceRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    return this.send(records.map((record) => ({ topic, record })));
  }

  async endOffsets(topic: string): Promise<Offsets> {
    return new Map((await this.watermarks(topic)).map((w) => [w.partition, w.high]));
  }

  async watermarks(topic: string): Promise<Array<{ partition: number; low: number; high: number }>> {
    const admin = await this.connectAdmin();
    const offsets = await retryRetriable(() => admin.fetchTopicOffsets(this.name(topic)));
    return offsets.map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }));
  }

  async committedOffsets(group: string, topic: string): Promise<Offsets> {
    const admin = await this.connectAdmin();
    const [entry] = await admin.fetchOffsets({ groupId: this.name(group), topics: [this.name(topic)] });
    const out: Offsets = new Map();
    for (const p of entry?.partitions ?? []) if (Number(p.offset) >= 0) out.set(p.partition, Number(p.offset));
    return out;
  }

  async consume(opts: ConsumeOptions): Promise<ConsumerHandle> {
    if (opts.worker) return this.track(await startWorkerConsumer(this.opts, opts));
    const consumer = this.track(new KafkaConsumer(this, opts));
    await consumer.start();
    return consumer;
  }

  /** Kept until done, so that close() stops it. */
  private track<T extends ConsumerHandle>(consumer: T): T {
    this.consumers.add(consumer);
    const forget = () => this.consumers.delete(consumer);
    consumer.done.then(forget, forget);
    return consumer;
  }

  /** Reads through a throwaway consumer group, deleted afterwards: for tools and tests only. */
  async read(topic: string, partition: number, fromOffset: number, max: number): Promise<LogRecord[]> {
    const marks = await this.watermarks(topic);
    const end = marks.find((w) => w.partition === partition)?.high;
    if (end === undefined) throw new Error(`topic ${topic} has no partition ${partition}`);
    if (fromOffset >= end || max <= 0) return [];
    const out: LogRecord[] = [];
    const group = `__read-${randomUUID()}`;
    const started: { handle?: ConsumerHandle } = {};
    started.handle = await this.consume({
      group,
      topic,
      untilEnd: true,
      // Every other partition starts at its end, so only this one is read.
      startOffsets: async () => new Map(marks.map((w) => [w.partition, w.partition === partition ? fromOffset : w.high])),
      onBatch: async (batch) => {
        for (const r of batch.records) if (out.length < max) out.push(r);
        if (out.length >= max) void started.handle?.stop();
      },
    });
    await started.handle.done;
    await this.connectAdmin()
      .then((admin) => admin.deleteGroups([this.name(group)]))
      .catch((err: unknown) => this.opts.logger?.debug({ err, group }, 'could not delete a read group'));
    return out;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.consumers].map((c) => c.stop()));
    const producer = this.producer;
    const admin = this.admin;
    this.producer = this.admin = null;
    await Promise.allSettled([producer?.then((p) => p.disconnect()), admin?.then((a) => a.disconnect())]);
  }

  private async sendBatch(items: Outgoing[]): Promise<void> {
    const byTopic = new Map<string, ProduceRecord[]>();
    for (const { topic, record } of items) {
      let list = byTopic.get(topic);
      if (!list) byTopic.set(topic, (list = []));
      list.push(record);
    }
    const producer = await this.connectProducer();
    await producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, records]) => ({
        topic: this.name(topic),
        messages: records.map((r) => ({ key: r.key, value: r.value, partition: r.partition })),
      })),
    });
  }

  private connectProducer(): Promise<Producer> {
    this.producer ??= connect(
      this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // Explicit, which also silences kafkajs's notice that its default partitioner changed in 2.0:
        // this is the Java client's murmur2 partitioner, as in murmur2.ts.
        createPartitioner: Partitioners.DefaultPartitioner,
      }),
      () => (this.producer = null),
    );
    return this.producer;
  }

  private connectAdmin(): Promise<Admin> {
    this.admin ??= connect(this.kafka.admin(), () => (this.admin = null));
    return this.admin;
  }
}

/** Connects a kafkajs client; a failed connection is forgotten so that the next call retries. */
async function connect<T extends { connect(): Promise<void> }>(client: T, forget: () => void): Promise<T> {
  try {
    await client.connect();
    return client;
  } catch (e) {
    forget();
    throw e;
  }
}

/**
 * kafkajs's admin does not retry a leader that moved or is not known yet (as just after a topic
 * is created): retry such errors a few times.
 */
async function retryRetriable<T>(op: () => Promise<T>, attempts = 8): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await op();
    } catch (e) {
      if (i >= attempts || (e as { retriable?: boolean }).retriable !== true) throw e;
      await setTimeout(50 * i);
    }
  }
}

/**
 * A rebalance is the group protocol at work, not a failure, yet kafkajs reports the heartbeat and
 * re-join responses that announce one at error level (tulios/kafkajs#375): they are info here, so
 * that an error in the logs means something went wrong.
 */
const REBALANCE = 'The group is rebalancing';

/** Forwards one kafkajs log entry to pino, at its level (a rebalance notice at info). */
export function forwardKafkaLog(logger: Logger | undefined, { namespace, level, log }: LogEntry): void {
  if (!logger) return;
  const { message, ...fields } = log;
  const text = `kafkajs ${namespace}: ${message}`;
  const rebalance = typeof fields.error === 'string' && fields.error.startsWith(REBALANCE);
  if (rebalance) logger.info(fields, text);
  else if (level === logLevel.ERROR) logger.error(fields, text);
  else if (level === logLevel.WARN) logger.warn(fields, text);
  else if (level === logLevel.INFO) logger.info(fields, text);
  else logger.debug(fields, text);
}
