/**
 * Kafka's record batches (the v2 format, magic 2), read straight from a fetch's bytes into a few
 * columns. kafkajs decodes every record into objects: a Long and two strings for its offset and
 * timestamp, a decoder, Buffers for its key and value, an object for its headers, and its batch
 * filters each by parsing the offset back into a Long. On the speed layer's consumer thread that was
 * half of the thread's CPU (1M events: 1.9 s of its own and most of its 1.1 s of collection). A
 * worker consumer has its kafkajs call `decodeRecordBatches` instead (kafkajs-records.ts); batches
 * it does not read (compressed, transactional, control) kafkajs decodes as before.
 */

import type { LogRecord } from './types.ts';

/** Where the fields this reads sit in a batch, from its first byte. */
const LENGTH_AT = 8;
const MAGIC_AT = 16;
const ATTRIBUTES_AT = 21;
const BASE_TIMESTAMP_AT = 27;
const MAX_TIMESTAMP_AT = 35;
const COUNT_AT = 57;
const RECORDS_AT = 61;
/** Bytes before a batch's length counts. */
const LENGTH_BASE = 12;
const MAGIC = 2;
const COMPRESSION_MASK = 0x07;
const LOG_APPEND_TIME = 0x08;
const TRANSACTIONAL = 0x10;
const CONTROL = 0x20;
/** A varlong is at most 10 bytes. */
const MAX_VARINT_BYTES = 10;

/**
 * Records of one partition as fetched, in offset order: their bytes are the fetch's own, and per
 * record the columns hold its offset, its timestamp, and where its key and value lie.
 */
export class FetchedRecords {
  constructor(
    readonly bytes: Buffer,
    private readonly offsets: Float64Array,
    private readonly timestamps: Float64Array,
    /** Per record: key start (-1: no key), key end, value start, value end. */
    private readonly spans: Int32Array,
    private readonly first = 0,
    private readonly end = offsets.length,
  ) {}

  /** Records made from their parts, copied into one block (kafkajs's own decoding, and tests). */
  static of(records: readonly { offset: number; timestamp: number; keyBytes: Uint8Array | null; valueBytes: Uint8Array }[]): FetchedRecords {
    let size = 0;
    for (const r of records) size += (r.keyBytes?.length ?? 0) + r.valueBytes.length;
    const bytes = Buffer.allocUnsafe(size);
    const n = records.length;
    const offsets = new Float64Array(n);
    const timestamps = new Float64Array(n);
    const spans = new Int32Array(4 * n);
    let at = 0;
    for (let i = 0; i < n; i++) {
      const r = records[i]!;
      offsets[i] = r.offset;
      timestamps[i] = r.timestamp;
      spans[4 * i] = r.keyBytes === null ? -1 : at;
      if (r.keyBytes !== null) {
        bytes.set(r.keyBytes, at);
        at += r.keyBytes.length;
      }
      spans[4 * i + 1] = at;
      spans[4 * i + 2] = at;
      bytes.set(r.valueBytes, at);
      at += r.valueBytes.length;
      spans[4 * i + 3] = at;
    }
    return new FetchedRecords(bytes, offsets, timestamps, spans);
  }

  get length(): number {
    return this.end - this.first;
  }

  offset(i: number): number {
    return this.offsets[this.first + i]!;
  }

  timestamp(i: number): number {
    return this.timestamps[this.first + i]!;
  }

  /** Where record `i`'s key starts in `bytes`, -1 when it has none. */
  keyStart(i: number): number {
    return this.spans[4 * (this.first + i)]!;
  }

  keyEnd(i: number): number {
    return this.spans[4 * (this.first + i) + 1]!;
  }

  valueStart(i: number): number {
    return this.spans[4 * (this.first + i) + 2]!;
  }

  valueEnd(i: number): number {
    return this.spans[4 * (this.first + i) + 3]!;
  }

  key(i: number): string | null {
    const start = this.keyStart(i);
    return start < 0 ? null : this.bytes.toString('utf8', start, this.keyEnd(i));
  }

  value(i: number): string {
    return this.bytes.toString('utf8', this.valueStart(i), this.valueEnd(i));
  }

  /** Records `from` to `to` (exclusive) of these, sharing their bytes and columns. */
  slice(from: number, to = this.length): FetchedRecords {
    const f = this.first + Math.max(0, Math.min(from, this.length));
    const e = this.first + Math.max(0, Math.min(to, this.length));
    return new FetchedRecords(this.bytes, this.offsets, this.timestamps, this.spans, f, Math.max(f, e));
  }

  /** As records of `topic`/`partition`, their keys and values read from the bytes when asked for. */
  records(topic: string, partition: number): LogRecord[] {
    return Array.from({ length: this.length }, (_, i) => {
      const keyStart = this.keyStart(i);
      const key = keyStart < 0 ? null : this.bytes.subarray(keyStart, this.keyEnd(i));
      return new FetchedRecord(topic, partition, this.offset(i), String(this.timestamp(i)), key, this.bytes.subarray(this.valueStart(i), this.valueEnd(i)));
    });
  }

  /** How many of these come before `offset`: a fetch brings whole batches, the first may start before the offset asked for. */
  before(offset: number): number {
    let low = 0;
    let high = this.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.offset(mid) < offset) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

/**
 * The records of a fetched partition's record batches; null when one of them is compressed,
 * transactional or a control batch, which is for kafkajs to decode. A batch cut short at the end
 * (a fetch stops at its byte limit) is left out, as kafkajs leaves it.
 */
export function decodeRecordBatches(bytes: Buffer): FetchedRecords | null {
  let count = 0;
  let complete = 0;
  for (let at = 0; at + RECORDS_AT <= bytes.length; ) {
    const size = LENGTH_BASE + bytes.readInt32BE(at + LENGTH_AT);
    if (at + size > bytes.length) break;
    if (bytes[at + MAGIC_AT] !== MAGIC) return null;
    const attributes = bytes.readInt16BE(at + ATTRIBUTES_AT);
    if ((attributes & (COMPRESSION_MASK | TRANSACTIONAL | CONTROL)) !== 0) return null;
    count += bytes.readInt32BE(at + COUNT_AT);
    at += size;
    complete = at;
  }
  const offsets = new Float64Array(count);
  const timestamps = new Float64Array(count);
  const spans = new Int32Array(4 * count);
  const cursor = new Cursor(bytes);
  let n = 0;
  for (let at = 0; at < complete; ) {
    const batchEnd = at + LENGTH_BASE + bytes.readInt32BE(at + LENGTH_AT);
    const baseOffset = int64(bytes, at);
    const appendTime = (bytes.readInt16BE(at + ATTRIBUTES_AT) & LOG_APPEND_TIME) !== 0;
    const baseTimestamp = int64(bytes, at + BASE_TIMESTAMP_AT);
    const maxTimestamp = int64(bytes, at + MAX_TIMESTAMP_AT);
    const records = bytes.readInt32BE(at + COUNT_AT);
    cursor.at = at + RECORDS_AT;
    for (let r = 0; r < records; r++, n++) {
      const length = cursor.varint();
      const recordEnd = cursor.at + length;
      if (length < 0 || recordEnd > batchEnd) throw new Error(`a record overruns its batch at byte ${cursor.at} of a fetched partition`);
      // The record's attributes: none are defined.
      cursor.at++;
      const timestampDelta = cursor.varint();
      const offsetDelta = cursor.varint();
      offsets[n] = baseOffset + offsetDelta;
      timestamps[n] = appendTime ? maxTimestamp : baseTimestamp + timestampDelta;
      const keyLength = cursor.varint();
      spans[4 * n] = keyLength < 0 ? -1 : cursor.at;
      if (keyLength > 0) cursor.at += keyLength;
      spans[4 * n + 1] = cursor.at;
      const valueLength = cursor.varint();
      spans[4 * n + 2] = cursor.at;
      if (valueLength > 0) cursor.at += valueLength;
      spans[4 * n + 3] = cursor.at;
      if (cursor.at > recordEnd) throw new Error(`a record's key or value overruns the record at byte ${cursor.at} of a fetched partition`);
      // Headers are not read: no consumer here uses them.
      cursor.at = recordEnd;
    }
    at = batchEnd;
  }
  return new FetchedRecords(bytes, offsets, timestamps, spans);
}

function int64(bytes: Buffer, at: number): number {
  return bytes.readInt32BE(at) * 4294967296 + bytes.readUInt32BE(at + 4);
}

/** A position in the bytes, and Kafka's zigzag varints read from there. */
class Cursor {
  at = 0;
  constructor(private readonly bytes: Buffer) {}

  varint(): number {
    const bytes = this.bytes;
    let byte = bytes[this.at++]!;
    if (byte < 0x80) return (byte >>> 1) ^ -(byte & 1);
    // Arithmetic, not bit operations: a varlong may pass 32 bits.
    let value = byte & 0x7f;
    let scale = 0x80;
    for (let read = 1; byte >= 0x80; read++) {
      if (read === MAX_VARINT_BYTES || this.at >= bytes.length) throw new Error(`a malformed varint at byte ${this.at} of a fetched partition`);
      byte = bytes[this.at++]!;
      value += (byte & 0x7f) * scale;
      scale *= 0x80;
    }
    return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
  }
}

/**
 * A record as fetched: its key and value are decoded from the fetched bytes when read, so a consumer
 * that passes bytes on (the archiver) never pays for strings it does not use. The value is not kept:
 * a consumer that parses it reads it once, and a kept string would live as long as its batch, which
 * the young generation's collections copy over and over. The timestamp is kafkajs's text, read as a
 * number when asked: a 13-digit number parsed per record was half of this conversion's cost (about
 * 90 of 190 ns in a micro-run), and the speed layer never asks.
 */
export class FetchedRecord implements LogRecord {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    private readonly timestampText: string,
    readonly keyBytes: Buffer | null,
    readonly valueBytes: Buffer,
  ) {}

  get timestamp(): number {
    return Number(this.timestampText);
  }

  get key(): string | null {
    return this.keyBytes === null ? null : this.keyBytes.toString();
  }

  get value(): string {
    return this.valueBytes.toString();
  }
}
