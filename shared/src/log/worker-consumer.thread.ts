import { parentPort, workerData } from 'node:worker_threads';
import { decodePacked, type PackedEvents } from '../events/packed-events.ts';
import { KafkaLog } from './kafka-log.ts';
import type { FetchedBatch } from './kafka-consumer.ts';
import { decodeRecordBatchesHere } from './kafkajs-records.ts';
import { packRecords } from './packed-records.ts';
import { FetchedRecords, type FetchedRecord } from './record-batches.ts';
import { ThreadChannel } from './thread-channel.ts';
import type { ConsumeOptions, ConsumerHandle, Offsets } from './types.ts';
import { threadLogger, type WorkerBatch, type WorkerConsumerData } from './worker-consumer.ts';

/**
 * The worker side of `worker-consumer.ts`: a Kafka consumer as any other, whose callbacks are calls
 * to the thread that started it, and whose batches go there packed.
 */

const data = workerData as WorkerConsumerData;
decodeRecordBatchesHere();
const port = parentPort!;
let handle: ConsumerHandle | null = null;
const channel = new ThreadChannel(port, {
  commit: (offsets: Offsets) => handle!.commit(offsets),
  stop: () => handle!.stop(),
});

// kafkajs's own logs reach the starting thread's logger as pino lines.
const logger = threadLogger((line) => channel.notify('log', line));
const log = new KafkaLog({ ...data.log, logger });
const { callbacks, decodeEvents, ...plain } = data.consume;
const opts: ConsumeOptions = {
  ...plain,
  // Here, on the worker.
  worker: false,
  // The consumer only ever hands out the records it fetched. Not an async function, which would
  // keep the batch's records for as long as the other thread takes to process it (see `deliver`).
  onBatch: (batch: FetchedBatch) => {
    // kafkajs decoded the batches the columns' decoder declined (compressed ones, say).
    const fetched = batch.fetched ?? FetchedRecords.of(batch.records as FetchedRecord[]);
    const records = decodeEvents?.eventsOnly ? null : packRecords(batch.topic, batch.partition, fetched);
    const transfer = records ? [records.bytes, records.meta.buffer as ArrayBuffer] : [];
    let events: PackedEvents | null = null;
    if (decodeEvents) {
      const limits = { now: Date.now(), maxFutureSkewMs: decodeEvents.maxFutureSkewMs };
      events = decodePacked(fetched, limits);
      transfer.push(...[events.offsets, events.types, events.eventTimes, events.amounts, events.spans, events.raw].map((a) => a.buffer as ArrayBuffer));
    }
    return channel.call<void>('onBatch', { topic: batch.topic, partition: batch.partition, records, events } satisfies WorkerBatch, transfer);
  },
  ...(callbacks.startOffsets ? { startOffsets: (partitions) => channel.call<Offsets>('startOffsets', partitions) } : {}),
  ...(callbacks.drainedOffsets ? { drainedOffsets: (partitions) => channel.call<Offsets>('drainedOffsets', partitions) } : {}),
  ...(callbacks.onAssignment ? { onAssignment: (partitions) => channel.call<void>('onAssignment', partitions) } : {}),
  ...(callbacks.onIdle ? { onIdle: () => channel.call<void>('onIdle') } : {}),
};

let outcome: { ok: true } | { ok: false; error: unknown };
try {
  handle = await log.consume(opts);
  channel.notify('started');
  outcome = await handle.done.then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error: ThreadChannel.cloneable(error) }),
  );
} catch (error) {
  outcome = { ok: false, error: ThreadChannel.cloneable(error) };
}
await log.close();
channel.notify('done', outcome);
channel.close(new Error('the consumer thread has ended'));
port.close();
