// Helpers the Kafka benchmarks share (bin/bench.js lists no file starting with `_`): filling a
// topic, the raw kafkajs consume-only baseline, timing a log consumer the same way, and the
// machine line every result carries.
//
// Both sides are timed from the moment their group assigns them partitions, when fetching starts:
// the join itself (seconds of group protocol) is not the consumer's speed, and timing from the
// first delivered batch would leave out the first fetch, which on a small topic is all of it.
import os from 'node:os';
import type { Kafka } from 'kafkajs';
import { fetchLimits, type EventLog } from '@lambda/shared';

export interface KeyedValue {
  key: string;
  value: string;
}

/** Produces `count` records (`record(i)`) in batches of 10,000 with up to 8 in flight; returns seconds. */
export async function fillTopic(kafka: Kafka, topic: string, count: number, record: (i: number) => KeyedValue): Promise<number> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const started = performance.now();
  const batch = 10_000;
  const inFlight: Promise<unknown>[] = [];
  try {
    for (let i = 0; i < count; i += batch) {
      const messages = Array.from({ length: Math.min(batch, count - i) }, (_, j) => record(i + j));
      inFlight.push(producer.send({ topic, acks: -1, messages }));
      if (inFlight.length >= 8) await inFlight.shift();
    }
    await Promise.all(inFlight);
  } finally {
    await producer.disconnect();
  }
  return (performance.now() - started) / 1000;
}

/** The limit: a kafkajs consumer that only counts the records it receives, fetching `fetchBytes` at a time as the measured consumer does. */
export async function rawConsumeRate(kafka: Kafka, groupId: string, topic: string, count: number, fetchBytes?: number): Promise<number> {
  const consumer = kafka.consumer({ groupId, ...fetchLimits(fetchBytes) });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  let started = 0;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    if (started === 0) started = performance.now();
  });
  const finished = new Promise<void>((resolve) => {
    void consumer.run({
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        seen += batch.messages.length;
        if (seen >= count) resolve();
      },
    });
  });
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await consumer.disconnect();
  return count / seconds;
}

/** The same log, but remembering when a consumer built on it was first assigned partitions. */
export function timedFromAssignment(log: EventLog): { log: EventLog; assignedAt: () => number } {
  let started = 0;
  const consume: EventLog['consume'] = (opts) =>
    log.consume({
      ...opts,
      onAssignment: (partitions: number[]) => {
        if (started === 0) started = performance.now();
        return opts.onAssignment?.(partitions);
      },
    });
  const timed = new Proxy(log, {
    get: (target, prop) => {
      if (prop === 'consume') return consume;
      const v: unknown = Reflect.get(target, prop);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { log: timed, assignedAt: () => started };
}

export function machine(): string {
  return `${os.cpus().length} cpu ${os.cpus()[0]?.model ?? 'unknown'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;
}
