import type { FetchedRecord } from './kafka-consumer.ts';
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

export function packRecords(topic: string, partition: number, records: readonly FetchedRecord[]): PackedBatch {
  let size = 0;
  for (const r of records) size += (r.keyBytes?.length ?? 0) + r.valueBytes.length;
  const bytes = new Uint8Array(size);
  const meta = new Float64Array(records.length * FIELDS);
  let at = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const m = i * FIELDS;
    meta[m] = r.offset;
    meta[m + 1] = r.timestamp;
    meta[m + 2] = r.keyBytes === null ? -1 : r.keyBytes.length;
    meta[m + 3] = r.valueBytes.length;
    if (r.keyBytes !== null) {
      bytes.set(r.keyBytes, at);
      at += r.keyBytes.length;
    }
    bytes.set(r.valueBytes, at);
    at += r.valueBytes.length;
  }
  return { topic, partition, bytes: bytes.buffer, meta };
}

export function unpackRecords(batch: PackedBatch): LogRecord[] {
  const bytes = Buffer.from(batch.bytes);
  const { meta, topic, partition } = batch;
  const out: LogRecord[] = [];
  let at = 0;
  for (let m = 0; m < meta.length; m += FIELDS) {
    const keyLength = meta[m + 2]!;
    const keyStart = keyLength < 0 ? -1 : at;
    if (keyLength > 0) at += keyLength;
    const valueEnd = at + meta[m + 3]!;
    out.push(new PackedRecord(topic, partition, meta[m]!, meta[m + 1]!, bytes, keyStart, at, valueEnd));
    at = valueEnd;
  }
  return out;
}

/** A record read from its batch's bytes when asked for, as a fetched record is (kafka-consumer.ts). */
class PackedRecord implements LogRecord {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    readonly timestamp: number,
    private readonly bytes: Buffer,
    /** -1: the record has no key; else the key spans keyStart to valueStart. */
    private readonly keyStart: number,
    private readonly valueStart: number,
    private readonly valueEnd: number,
  ) {}

  get key(): string | null {
    return this.keyStart < 0 ? null : this.bytes.toString('utf8', this.keyStart, this.valueStart);
  }

  get value(): string {
    return this.bytes.toString('utf8', this.valueStart, this.valueEnd);
  }

  get valueBytes(): Buffer {
    return this.bytes.subarray(this.valueStart, this.valueEnd);
  }
}
