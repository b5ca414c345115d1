import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeRecordBatches, FetchedRecords } from './record-batches.ts';

// kafkajs's own encoder writes the batches, and its own decoder (the hook unset) is what ours must agree with.
const require = createRequire(import.meta.url);
type Bytes = Buffer | null;
const { RecordBatch: encodeBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: (batch: object) => Promise<{ buffer: Buffer }> };
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (record: object) => object;
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (bytes: Buffer) => object;
const decodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js') as (decoder: object) => Promise<
  { offset: string; timestamp: string; key: Bytes; value: Bytes }[]
>;
const Batch = require('kafkajs/src/consumer/batch.js') as new (
  topic: string,
  fetchedOffset: string,
  data: { partition: number; highWatermark: string; messages: unknown; abortedTransactions: unknown[] },
) => { messages: { length: number }; isEmpty(): boolean; firstOffset(): string | null; lastOffset(): string };
const { Types: Compression } = require('kafkajs/src/protocol/message/compression/index.js') as { Types: { GZIP: number } };
const Long = require('kafkajs/src/utils/long.js') as { fromNumber(n: number): object };

interface GivenRecord {
  offsetGap: number;
  timestampDelta: number;
  key: Bytes;
  value: Bytes;
  headers: Record<string, string>;
}
interface GivenBatch {
  firstOffset: number;
  firstTimestamp: number;
  /** The broker's clock stamps the batch (LogAppendTime): every record has its max timestamp. */
  appendTime?: boolean;
  records: GivenRecord[];
}

const bytes = fc.option(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), { nil: null });
const recordArb: fc.Arbitrary<GivenRecord> = fc.record({
  // Offsets need not be dense (a compacted log's are not).
  offsetGap: fc.integer({ min: 1, max: 3 }),
  // Deltas of either sign, some past 32 bits.
  timestampDelta: fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -(2 ** 40), max: 2 ** 40 })),
  key: bytes,
  value: bytes,
  headers: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 10 }), { maxKeys: 2 }),
});
const batchArb: fc.Arbitrary<GivenBatch> = fc.record({
  firstOffset: fc.oneof(fc.nat(1000), fc.integer({ min: 2 ** 32, max: 2 ** 50 })),
  firstTimestamp: fc.integer({ min: 0, max: 2 ** 43 }),
  appendTime: fc.boolean(),
  records: fc.array(recordArb, { minLength: 1, maxLength: 20 }),
});
/** Where a batch's attributes' low byte sits; the timestamp type is its bit 3. kafkajs's encoder always writes CreateTime. */
const ATTRIBUTES_LOW_BYTE = 22;
const LOG_APPEND_TIME = 0x08;

async function encode(batch: GivenBatch, options: object = {}): Promise<Buffer> {
  let delta = -1;
  const records = batch.records.map((r) => {
    delta += r.offsetGap;
    return encodeRecord({ offsetDelta: delta, timestampDelta: Long.fromNumber(r.timestampDelta), key: r.key, value: r.value, headers: r.headers });
  });
  const encoded = await encodeBatch({
    firstOffset: Long.fromNumber(batch.firstOffset),
    firstTimestamp: batch.firstTimestamp,
    maxTimestamp: batch.firstTimestamp + 12_345,
    lastOffsetDelta: delta,
    records,
    ...options,
  });
  // Neither decoder checks the CRC, so the bit can be set after it was computed.
  if (batch.appendTime) encoded.buffer[ATTRIBUTES_LOW_BYTE]! |= LOG_APPEND_TIME;
  return encoded.buffer;
}

/** What kafkajs decodes from a fetched partition's bytes, as plain numbers and bytes. */
async function kafkajsDecodes(fetched: Buffer) {
  const size = Buffer.alloc(4);
  size.writeInt32BE(fetched.length);
  const messages = await decodeMessages(new Decoder(Buffer.concat([size, fetched])));
  return messages.map((m) => ({ offset: Number(m.offset), timestamp: Number(m.timestamp), key: m.key, value: m.value ?? Buffer.alloc(0) }));
}

function columns(records: FetchedRecords) {
  return Array.from({ length: records.length }, (_, i) => ({
    offset: records.offset(i),
    timestamp: records.timestamp(i),
    key: records.keyStart(i) < 0 ? null : records.bytes.subarray(records.keyStart(i), records.keyEnd(i)),
    value: records.bytes.subarray(records.valueStart(i), records.valueEnd(i)),
  }));
}
const parts = (records: FetchedRecords) => columns(records).map(({ key, value, ...r }) => ({ ...r, keyBytes: key, valueBytes: value }));

test("a fetched partition's record batches decode to what kafkajs decodes from them, a batch cut short at the end left out as kafkajs leaves it", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(batchArb, { minLength: 1, maxLength: 4 }), fc.nat(), async (batches, cut) => {
      const whole = await Promise.all(batches.map((b) => encode(b)));
      // The last batch cut anywhere, as a fetch's byte limit cuts it (uncut too), past the first
      // batch's magic byte, which kafkajs reads before it decodes anything.
      const last = whole.at(-1)!;
      const before = whole.slice(0, -1);
      const keep = Math.max(17 - before.reduce((n, b) => n + b.length, 0), last.length - (cut % (last.length + 1)));
      const fetched = Buffer.concat([...before, last.subarray(0, keep)]);
      const ours = decodeRecordBatches(fetched);
      assert.ok(ours);
      assert.deepEqual(columns(ours), await kafkajsDecodes(fetched));
    }),
    { numRuns: 300 },
  );
});

test('a compressed or transactional batch anywhere in a fetch leaves the whole fetch to kafkajs', async () => {
  const plain = await encode({ firstOffset: 0, firstTimestamp: 1, records: [{ offsetGap: 1, timestampDelta: 0, key: null, value: Buffer.from('a'), headers: {} }] });
  const given = { firstOffset: 1, firstTimestamp: 1, records: [{ offsetGap: 1, timestampDelta: 0, key: null, value: Buffer.from('b'), headers: {} }] };
  assert.ok(decodeRecordBatches(plain));
  for (const options of [{ compression: Compression.GZIP }, { transactional: true }]) {
    const other = await encode(given, options);
    assert.equal(decodeRecordBatches(Buffer.concat([plain, other])), null);
    // kafkajs does read it, so nothing is lost.
    assert.deepEqual((await kafkajsDecodes(Buffer.concat([plain, other]))).map((m) => m.value.toString()), ['a', 'b']);
  }
});

test('a record that claims more bytes than its batch holds is an error, not a misread', async () => {
  const fetched = await encode({ firstOffset: 0, firstTimestamp: 1, records: [{ offsetGap: 1, timestampDelta: 0, key: null, value: Buffer.from('abc'), headers: {} }] });
  // The record's length varint is the first byte after the 61-byte batch header: claim 63 bytes (zigzag 126).
  fetched[61] = 126;
  assert.throws(() => decodeRecordBatches(fetched), /overruns its batch/);
});

test("records made from their parts read back as given, and slices and `before` keep each record's own offset", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ gap: fc.integer({ min: 1, max: 3 }), timestamp: fc.nat(), key: bytes, value: fc.uint8Array({ maxLength: 20 }) }), { maxLength: 20 }),
      fc.nat(70),
      (given, probe) => {
        let offset = 0;
        const made = given.map((r) => ({ offset: (offset += r.gap), timestamp: r.timestamp, keyBytes: r.key, valueBytes: Buffer.from(r.value) }));
        const records = FetchedRecords.of(made);
        assert.deepEqual(parts(records), made);
        const from = records.before(probe);
        assert.equal(from, made.filter((p) => p.offset < probe).length);
        assert.deepEqual(parts(records.slice(from)), made.slice(from));
        assert.deepEqual(parts(records.slice(from).slice(1, 3)), made.slice(from).slice(1, 3));
      },
    ),
  );
});

test('as records, fetched records read their offsets, timestamps, keys (or none) and values from the columns', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ timestamp: fc.nat(), key: fc.option(fc.string({ maxLength: 10 }), { nil: null }), value: fc.string({ maxLength: 20 }) }), { maxLength: 10 }), (given) => {
      const fetched = FetchedRecords.of(
        given.map((r, i) => ({ offset: 7 + i, timestamp: r.timestamp, keyBytes: r.key === null ? null : Buffer.from(r.key), valueBytes: Buffer.from(r.value) })),
      );
      const records = fetched.records('t', 3);
      assert.deepEqual(
        records.map(({ topic, partition, offset, timestamp, key, value }) => ({ topic, partition, offset, timestamp, key, value })),
        given.map((r, i) => ({ topic: 't', partition: 3, offset: 7 + i, timestamp: r.timestamp, key: r.key, value: r.value })),
      );
      records.forEach((r, i) => assert.ok(r.valueBytes!.equals(Buffer.from(given[i]!.value))));
    }),
  );
});

test("kafkajs's batch (as patched) over columns: only the records from the fetched offset on, and its first and last offsets", () => {
  const value = Buffer.from('v');
  const records = FetchedRecords.of([10, 11, 13, 14].map((offset) => ({ offset, timestamp: 0, keyBytes: null, valueBytes: value })));
  const batch = new Batch('t', '12', { partition: 0, highWatermark: '15', messages: records, abortedTransactions: [] });
  assert.equal(batch.messages.length, 2);
  assert.equal(batch.firstOffset(), '13');
  assert.equal(batch.lastOffset(), '14');
  // Fetched past every record it holds: empty, and resolved up to the fetched offset.
  const past = new Batch('t', '15', { partition: 0, highWatermark: '15', messages: records, abortedTransactions: [] });
  assert.ok(past.isEmpty());
  assert.equal(past.lastOffset(), '15');
});
