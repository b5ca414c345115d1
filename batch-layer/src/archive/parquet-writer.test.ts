import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBInstance } from '@duckdb/node-api';
import { MAX_EVENT_BYTES, eventsArchiveGlob, type LogRecord } from '@lambda/shared';
import { sqlString } from '../sql.ts';
import { ParquetWriter, canFrame, type Suspect } from './parquet-writer.ts';

const EVENT_TIME = Date.UTC(2026, 10, 25, 12);

function eventBytes(userId: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`{"event_id":"e-${userId.toString('hex')}","type":"page_view","event_time":${EVENT_TIME},"user_id":"`),
    userId,
    Buffer.from('","product_id":"sku-1"}'),
  ]);
}

/** A record as the Kafka back end hands it over: its value's bytes as fetched, decoded on demand. */
function fetched(offset: number, bytes: Buffer): LogRecord {
  return { topic: 'events', partition: 0, offset, key: null, timestamp: 0, valueBytes: bytes, value: bytes.toString() };
}

test('only one-line JSON objects of valid UTF-8 without escapes or control characters are framed', () => {
  assert.ok(canFrame(eventBytes(Buffer.from('plain'))));
  assert.ok(canFrame(eventBytes(Buffer.from('ünïcødé ✓ 😀'))), 'valid multi-byte UTF-8');
  for (const [why, bytes] of [
    ['invalid UTF-8', eventBytes(Buffer.from([0x75, 0xff, 0xfe]))],
    ['a truncated UTF-8 sequence', eventBytes(Buffer.from([0x75, 0xe2, 0x9c]))],
    ['a UTF-16 surrogate encoded as UTF-8', eventBytes(Buffer.from([0xed, 0xa0, 0x80]))],
    ['a newline', eventBytes(Buffer.from('a\nb'))],
    ['a carriage return', eventBytes(Buffer.from('a\rb'))],
    ['the separator', eventBytes(Buffer.from('a\x01b'))],
    ['an escape', eventBytes(Buffer.from('a\\u0041'))],
    ['a tab', eventBytes(Buffer.from('a\tb'))],
    ['not an object', Buffer.from('["a"]')],
    ['empty', Buffer.alloc(0)],
    ['over the size limit', eventBytes(Buffer.alloc(MAX_EVENT_BYTES, 0x61))],
  ] as const) {
    assert.equal(canFrame(bytes), false, why);
  }
});

test('a record of invalid UTF-8 is judged in JavaScript and the rest of its flush is archived', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'parquet-writer-test-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const writer = await ParquetWriter.open(dataDir);
  t.after(() => writer.close());
  const records = [
    fetched(0, eventBytes(Buffer.from('plain'))),
    fetched(1, eventBytes(Buffer.from([0x75, 0xff]))),
    fetched(2, eventBytes(Buffer.from('ünïcødé'))),
  ];
  const framed = writer.framedFile(0);
  const others = framed.append(records);
  assert.deepEqual(others.map((r) => r.offset), [1]);

  const suspects: Suspect[] = [];
  const files = await writer.write([{ partition: 0, firstOffset: 0, lastOffset: 2, framed, validated: [] }], {
    maxEventTimeMs: EVENT_TIME,
    judge: (s) => suspects.push(s),
  });
  assert.deepEqual(suspects, [], 'the framed records were all plain valid events');
  assert.equal(files.reduce((n, f) => n + f.rows, 0), 2);
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const rows = await conn.runAndReadAll(`SELECT log_offset, user_id FROM read_parquet(${sqlString(eventsArchiveGlob(dataDir))}) ORDER BY log_offset`);
    assert.deepEqual(rows.getRows().map(([o, u]) => [Number(o), u]), [[0, 'plain'], [2, 'ünïcødé']]);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
});
