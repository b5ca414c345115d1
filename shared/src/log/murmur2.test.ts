import assert from 'node:assert/strict';
import { test } from 'node:test';
import { murmur2, partitionForKey } from './murmur2.ts';

// The vectors of Kafka's own UtilsTest.testMurmur2.
const KAFKA_VECTORS: Array<[string, number]> = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

test('murmur2 matches Kafka on its reference vectors', () => {
  for (const [key, hash] of KAFKA_VECTORS) assert.equal(murmur2(Buffer.from(key)), hash, key);
});

test('partitionForKey is the positive hash modulo the partition count', () => {
  for (const [key, hash] of KAFKA_VECTORS) {
    for (const n of [1, 3, 7]) assert.equal(partitionForKey(key, n), (hash & 0x7fffffff) % n);
  }
});
