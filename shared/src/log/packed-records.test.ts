import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { packRecords, unpackRecords } from './packed-records.ts';
import { FetchedRecords } from './record-batches.ts';

const text = fc.string({ unit: 'binary', maxLength: 40 });

test('a packed batch unpacks to the records it was packed from: offsets, timestamps, keys (or none) and values', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ offset: fc.nat(), timestamp: fc.nat(), key: fc.option(text), value: text }), { maxLength: 30 }),
      (given) => {
        const fetched = FetchedRecords.of(given.map((r) => ({ ...r, keyBytes: r.key === null ? null : Buffer.from(r.key), valueBytes: Buffer.from(r.value) })));
        const packed = packRecords('t', 2, fetched);
        // Exactly the keys' and values' bytes cross, no more.
        assert.equal(packed.bytes.byteLength, given.reduce((n, r) => n + Buffer.byteLength(r.key ?? '') + Buffer.byteLength(r.value), 0));
        // Across threads the buffers are transferred: the receiving side sees only these two.
        const [bytes, meta] = structuredClone([packed.bytes, packed.meta], { transfer: [packed.bytes, packed.meta.buffer as ArrayBuffer] });
        const got = unpackRecords({ topic: 't', partition: 2, bytes, meta });
        const expected = given.map((r) => ({ topic: 't', partition: 2, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value }));
        assert.deepEqual(
          got.map(({ topic, partition, offset, timestamp, key, value }) => ({ topic, partition, offset, timestamp, key, value })),
          expected,
        );
        got.forEach((r, i) => assert.ok(r.valueBytes!.equals(Buffer.from(given[i]!.value))));
      },
    ),
  );
});
