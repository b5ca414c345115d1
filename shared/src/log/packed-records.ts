import type { FetchedRecords } from './record-batches.ts';
import type { LogRecord } from './types.ts';

/**
 * A batch of records as one block of bytes, to cross from the consumer's worker thread to the
 * thread that processes it without a copy (the buffers are transferred) and without an object per
 * record on the way (a structured clone of 20,000 records costs the receiving thread about what
 * decoding them from Kafka's format did). Per record, `meta` holds four numbers: offset, timestamp,
 * key length (-1: no key) and value length; `bytes` holds each record's key, then its value.
 */
export interface PackedBatch {
  topic: string;
  partition: number;
  bytes: ArrayBuffer;
  meta: Float64Array;
}

const FIELDS = 4;

export function packRecords(topic: string, partition: number, records: FetchedRecords): PackedBatch {
  const n = records.length;
  let size = 0;
  for (let i = 0; i < n; i++) {
    const keyStart = records.keyStart(i);
    size += (keyStart < 0 ? 0 : records.keyEnd(i) - keyStart) + records.valueEnd(i) - records.valueStart(i);
  }
  const bytes = new Uint8Array(size);
  const meta = new Float64Array(n * FIELDS);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const m = i * FIELDS;
    const keyStart = records.keyStart(i);
    meta[m] = records.offset(i);
    meta[m + 1] = records.timestamp(i);
    meta[m + 2] = keyStart < 0 ? -1 : records.keyEnd(i) - keyStart;
    meta[m + 3] = records.valueEnd(i) - records.valueStart(i);
    if (keyStart >= 0) {
      bytes.set(records.bytes.subarray(keyStart, records.keyEnd(i)), at);
      at += records.keyEnd(i) - keyStart;
    }
    bytes.set(records.bytes.subarray(records.valueStart(i), records.valueEnd(i)), at);
    at += records.valueEnd(i) - records.valueStart(i);
  }
  return { topic, partition, bytes: bytes.buffer, meta };
}

export function unpackRecords(batch: PackedBatch): LogRecord[] {
  const n = batch.meta.length / FIELDS;
  // Per record: where its key starts (-1: no key), where its value starts and ends.
  const spans = new Float64Array(3 * n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const keyLength = batch.meta[i * FIELDS + 2]!;
    spans[3 * i] = keyLength < 0 ? -1 : at;
    if (keyLength > 0) at += keyLength;
    spans[3 * i + 1] = at;
    at += batch.meta[i * FIELDS + 3]!;
    spans[3 * i + 2] = at;
  }
  const block: Block = { topic: batch.topic, partition: batch.partition, meta: batch.meta, bytes: Buffer.from(batch.bytes), spans };
  const out = new Array<LogRecord>(n);
  for (let i = 0; i < n; i++) out[i] = new PackedRecord(block, i);
  return out;
}

interface Block {
  topic: string;
  partition: number;
  meta: Float64Array;
  bytes: Buffer;
  spans: Float64Array;
}

/**
 * A record read from its batch's bytes when asked for, as a fetched record is (kafka-consumer.ts).
 * It holds its batch and its number only: a batch is tens of thousands of records, and each field
 * more was an allocation per record on the thread that processes them.
 */
class PackedRecord implements LogRecord {
  constructor(
    private readonly block: Block,
    private readonly i: number,
  ) {}

  get topic(): string {
    return this.block.topic;
  }

  get partition(): number {
    return this.block.partition;
  }

  get offset(): number {
    return this.block.meta[this.i * FIELDS]!;
  }

  get timestamp(): number {
    return this.block.meta[this.i * FIELDS + 1]!;
  }

  get key(): string | null {
    const { spans, bytes } = this.block;
    const start = spans[3 * this.i]!;
    return start < 0 ? null : bytes.toString('utf8', start, spans[3 * this.i + 1]);
  }

  get value(): string {
    const { spans, bytes } = this.block;
    return bytes.toString('utf8', spans[3 * this.i + 1], spans[3 * this.i + 2]);
  }

  get valueBytes(): Buffer {
    const { spans, bytes } = this.block;
    return bytes.subarray(spans[3 * this.i + 1], spans[3 * this.i + 2]);
  }
}
