import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DuckDBInstance, DuckDBTimestampTZValue, type DuckDBConnection } from '@duckdb/node-api';
import { WORKLOAD_DEFAULTS, Workload, itemLine, toColumns, workloadSpanMs, type EventColumns } from '@lambda/shared';
import { eventArbitraries, zodEvent } from '@lambda/shared/testing/event-arbitraries';
import { sqlString } from '../sql.ts';
import { fastCheckQuery, fastRowsQuery } from './fast-accept.ts';
import { canFrame } from './parquet-writer.ts';

const NOW = Date.UTC(2026, 10, 25, 12);
const SKEW_MS = 24 * 3_600_000;

interface Verdict {
  ok: boolean;
  row?: EventColumns;
}

/** The fast path's verdict on each text, and the archive columns it would write for those it accepts. */
async function fastVerdicts(conn: DuckDBConnection, texts: string[]): Promise<Verdict[]> {
  const values = texts.map((t, i) => `(0, ${i}, ${sqlString(t)})`).join(', ');
  const source = `SELECT p::INTEGER AS p, o::BIGINT AS o, raw FROM (VALUES ${values}) AS t(p, o, raw)`;
  await conn.run(`CREATE OR REPLACE TEMP TABLE checked AS ${fastCheckQuery(source, NOW + SKEW_MS)}`);
  const verdicts: Verdict[] = (await conn.runAndReadAll('SELECT ok FROM checked ORDER BY o'))
    .getRows()
    .map(([ok]) => ({ ok: ok === true }));
  const rows = await conn.runAndReadAll(`${fastRowsQuery('SELECT * FROM checked')} ORDER BY log_offset`);
  for (const r of rows.getRowObjects()) {
    const time = r.event_time as DuckDBTimestampTZValue;
    verdicts[Number(r.log_offset)]!.row = {
      event_id: r.event_id as string,
      type: r.type as EventColumns['type'],
      event_time: Number(time.micros / 1000n),
      user_id: r.user_id as string,
      product_id: r.product_id as string | null,
      ad_id: r.ad_id as string | null,
      amount_cents: r.amount_cents === null ? null : Number(r.amount_cents),
      tier: r.tier as string | null,
      country: r.country as string | null,
      error_code: r.error_code as string | null,
    };
  }
  return verdicts;
}

function zodVerdict(text: string): { ok: true; columns: EventColumns } | { ok: false } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false };
  }
  const event = zodEvent(value, NOW, SKEW_MS);
  return event ? { ok: true, columns: toColumns(event) } : { ok: false };
}

const { textArb } = eventArbitraries(NOW, SKEW_MS);

test('the fast path accepts only what zod accepts, and archives exactly what zod would', async () => {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  let accepted = 0;
  let rejected = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(textArb, { minLength: 1, maxLength: 60 }), async (texts) => {
        const framed = texts.filter((text) => canFrame(Buffer.from(text)));
        if (framed.length === 0) return;
        const verdicts = await fastVerdicts(conn, framed);
        framed.forEach((text, i) => {
          const zod = zodVerdict(text);
          if (!verdicts[i]!.ok) {
            rejected++;
            return;
          }
          accepted++;
          assert.ok(zod.ok, `the fast path accepted what zod rejects: ${text}`);
          assert.deepEqual(verdicts[i]!.row, zod.columns, `the fast path would archive other values for ${text}`);
        });
      }),
      { numRuns: 300 },
    );
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  // Both sides must have been exercised, or the property says nothing.
  assert.ok(accepted > 100, `only ${accepted} records took the fast path`);
  assert.ok(rejected > 100, `only ${rejected} records were left to zod`);
});

test("the fast path takes every valid event of the generator's workload", async () => {
  const options = { ...WORKLOAD_DEFAULTS, count: 3000, malformedShare: 0, startTime: 0 };
  const workload = new Workload({ ...options, startTime: NOW - workloadSpanMs(options) });
  const texts = [...workload].filter((item) => item.kind !== 'malformed').map(itemLine);
  assert.ok(
    texts.every((text) => canFrame(Buffer.from(text))),
    'every generated event can be framed',
  );
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const verdicts = await fastVerdicts(conn, texts);
    texts.forEach((text, i) => {
      const zod = zodVerdict(text);
      assert.ok(zod.ok && verdicts[i]!.ok, `not taken by the fast path: ${text}`);
      assert.deepEqual(verdicts[i]!.row, zod.columns);
    });
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
});
