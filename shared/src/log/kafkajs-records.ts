import { createRequire } from 'node:module';
import { decodeRecordBatches } from './record-batches.ts';

/**
 * Has this thread's kafkajs hand fetched record batches to `decodeRecordBatches` (through the hook
 * patches/kafkajs+2.2.4.patch adds): its batches' messages are then `FetchedRecords`, except where
 * that declines a batch. For a worker consumer's thread only, where every consumer is ours: any
 * other kafkajs consumer on the thread would be handed columns where it expects messages.
 */
export function decodeRecordBatchesHere(): void {
  const decodeMessages = createRequire(import.meta.url)('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js') as {
    recordBatchesDecoder?: typeof decodeRecordBatches | null;
  };
  // Unpatched, kafkajs would never call it: the consumer would run, at kafkajs's speed, unnoticed.
  if (!('recordBatchesDecoder' in decodeMessages)) throw new Error('kafkajs is not patched (patches/kafkajs+2.2.4.patch): run npm install');
  decodeMessages.recordBatchesDecoder = decodeRecordBatches;
}
