/**
 * kafkajs as patched (patches/kafkajs+2.2.4.patch): a record's offset and timestamp, which the patch
 * adds as numbers where they are exact, are those Long arithmetic gives, for every base and delta.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import fc from 'fast-check';

const require = createRequire(import.meta.url);
const Long = require('kafkajs/src/utils/long') as {
  fromValue(v: string | number): { add(d: unknown): { toString(): string } };
  fromString(s: string): unknown;
};
const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => unknown;
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as (r: object) => { buffer: Buffer };
const decodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/decoder') as (
  d: unknown,
  ctx: object,
) => { offset: string; timestamp: string; value: Buffer };

const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
const nearSafe = fc.bigInt({ min: -(2n ** 54n), max: 2n ** 54n });

test('the patched record decoder adds offset and timestamp deltas exactly as Long does', () => {
  fc.assert(
    fc.property(
      fc.oneof(nearSafe, fc.bigInt(INT64)),
      fc.oneof(nearSafe, fc.bigInt(INT64)),
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      fc.oneof(fc.bigInt({ min: -(2n ** 31n), max: 2n ** 31n }), nearSafe),
      (firstOffset, firstTimestamp, offsetDelta, timestampDelta) => {
        // Kafka's sums wrap at 64 bits as Long's do; keep to sums that fit, as a broker's do.
        const fits = (x: bigint) => x >= INT64.min && x <= INT64.max;
        fc.pre(fits(firstOffset + BigInt(offsetDelta)) && fits(firstTimestamp + timestampDelta));
        const longDelta = Long.fromString(timestampDelta.toString());
        const bytes = encodeRecord({ offsetDelta, timestampDelta: longDelta, key: null, value: Buffer.from('v') }).buffer;
        const inner = new Decoder(bytes) as { readVarIntBytes(): Buffer };
        const record = decodeRecord(new Decoder(inner.readVarIntBytes()), {
          firstOffset: firstOffset.toString(),
          firstTimestamp: firstTimestamp.toString(),
          magicByte: 2,
        });
        assert.equal(record.offset, (firstOffset + BigInt(offsetDelta)).toString());
        assert.equal(record.timestamp, (firstTimestamp + timestampDelta).toString());
        assert.equal(record.offset, Long.fromValue(firstOffset.toString()).add(offsetDelta).toString());
        assert.equal(record.value.toString(), 'v');
      },
    ),
    { numRuns: 2_000 },
  );
});
