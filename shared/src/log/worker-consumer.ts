import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { PackedEventsReader, type PackedEvents } from '../events/packed-events.ts';
import type { Logger } from '../logger.ts';
import type { KafkaLogOptions } from './kafka-log.ts';
import { unpackRecords, type PackedBatch } from './packed-records.ts';
import { onWorkerExit, ThreadChannel } from './thread-channel.ts';
import type { ConsumeOptions, ConsumerHandle, LogRecord, Offsets, RecordBatch } from './types.ts';

/**
 * A Kafka consumer on a worker thread (`ConsumeOptions.worker`). kafkajs decodes every fetched
 * record into objects (a Long for its offset, Buffers for key and value, strings for its
 * timestamp): per record about 1.4 KB of short-lived garbage and a tenth of a busy consumer's CPU,
 * all on the thread that also processes the batches. Here kafkajs runs on its own thread, with its
 * own heap, where it hands the fetched record batches to our decoder (record-batches.ts), and each
 * batch comes over as one block of bytes (packed-records.ts), with its events decoded there when
 * asked (packed-events.ts). Behaviour is the Kafka consumer's (kafka-consumer.ts): the same one
 * runs there, its callbacks calls back to here.
 */

/** What the worker is started with: everything that is not a function, and which callbacks there are. */
export interface WorkerConsumerData {
  log: Omit<KafkaLogOptions, 'logger'>;
  consume: Omit<ConsumeOptions, 'onBatch' | 'startOffsets' | 'drainedOffsets' | 'onAssignment' | 'onIdle'> & {
    callbacks: { startOffsets: boolean; drainedOffsets: boolean; onAssignment: boolean; onIdle: boolean };
  };
}

/**
 * A batch as it crosses: its records (none with `decodeEvents.eventsOnly`), and their events when
 * the worker decoded them (`decodeEvents`).
 */
export interface WorkerBatch {
  topic: string;
  partition: number;
  records: PackedBatch | null;
  events: PackedEvents | null;
}

type Outcome = { ok: true } | { ok: false; error: unknown };

export async function startWorkerConsumer(logOptions: KafkaLogOptions, opts: ConsumeOptions): Promise<ConsumerHandle> {
  const { logger, ...log } = logOptions;
  const { onBatch, startOffsets, drainedOffsets, onAssignment, onIdle, ...plain } = opts;
  const data: WorkerConsumerData = {
    log,
    consume: {
      ...plain,
      callbacks: { startOffsets: !!startOffsets, drainedOffsets: !!drainedOffsets, onAssignment: !!onAssignment, onIdle: !!onIdle },
    },
  };
  const worker = new Worker(new URL('./worker-consumer.thread.js', import.meta.url), { workerData: data });
  // The error a callback here threw, which ends the consumer: `done` rejects with it, not with its clone.
  let callbackError: { error: unknown } | null = null;
  const own =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    async (...args: A): Promise<Awaited<R>> => {
      try {
        return await fn(...args);
      } catch (error) {
        callbackError ??= { error };
        throw error;
      }
    };
  let started!: () => void;
  const startedOrEnded = new Promise<void>((resolve) => (started = resolve));
  const state: { outcome: Outcome | null; exited: boolean } = { outcome: null, exited: false };
  const channel = new ThreadChannel(worker, {
    onBatch: own((batch: WorkerBatch) => onBatch(packedBatch(batch))),
    startOffsets: own((partitions: number[]) => startOffsets!(partitions)),
    drainedOffsets: own((partitions: number[]) => drainedOffsets!(partitions)),
    onAssignment: own((partitions: number[]) => onAssignment!(partitions)),
    onIdle: own(() => onIdle!()),
    log: (line: string) => logger && relayLog(logger, line),
    started: () => started(),
    done: (o: Outcome) => {
      state.outcome = o;
      started();
    },
  });
  let crash: unknown = null;
  worker.on('error', (err) => (crash = err));
  const done = new Promise<void>((resolve, reject) => {
    onWorkerExit(worker, (code) => {
      state.exited = true;
      channel.close(new Error('the consumer thread has ended'));
      started();
      const o = state.outcome ?? { ok: false, error: crash ?? new Error(`the consumer thread exited (code ${code}) before it was done`) };
      if (o.ok) resolve();
      else reject(callbackError?.error ?? o.error);
    });
  });
  await startedOrEnded;
  // Ended before it started: `done` rejects with why.
  if (state.outcome !== null || state.exited) await done;
  return {
    done,
    commit: (offsets: Offsets) => channel.call<void>('commit', offsets),
    stop: async () => {
      if (state.exited) return;
      await channel.call<void>('stop').catch((err: unknown) => {
        if (!state.exited) throw err;
      });
      await done.catch(() => undefined);
    },
  };
}

/**
 * A batch as it came over. Its records, where they came over, are unpacked when first read: a
 * consumer of its events finds their offsets there, and an object per record was 5% of what the
 * speed layer's processing thread allocated.
 */
function packedBatch({ topic, partition, records: packed, events }: WorkerBatch): RecordBatch {
  let records: LogRecord[] | null = null;
  return {
    topic,
    partition,
    get records() {
      if (packed === null) throw new Error(`the records of ${topic}/${partition} did not come over: the consumer asked for its events only`);
      return (records ??= unpackRecords(packed));
    },
    ...(events ? { events: new PackedEventsReader(events) } : {}),
  };
}

/** The worker's logger: each line goes to `write`, for `relayLog` on the starting thread. */
export function threadLogger(write: (line: string) => void): Logger {
  return pino({ level: 'debug', base: null, timestamp: false }, { write });
}

/** A pino line from the worker, to `logger` at its level. */
export function relayLog(logger: Logger, line: string): void {
  const { level, msg, ...fields } = JSON.parse(line) as { level: number; msg?: string };
  const label = logger.levels.labels[level] as 'debug' | 'info' | 'warn' | 'error' | undefined;
  if (label) logger[label](fields, msg);
}
