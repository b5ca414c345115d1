import { createHash } from 'node:crypto';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import {
  MAX_EVENT_BYTES,
  TOPICS,
  eventsArchiveGlob,
  ingestEvents,
  type EventInput,
  type EventLog,
  type RawEvent,
} from '@lambda/shared';

/**
 * Shared by the archive tests: a seeded stream with out-of-order, duplicate and malformed events,
 * and an independent check of the archive against the log (TypeScript on one side, DuckDB over the
 * public glob on the other).
 */

export const EDGE_SOURCE = 'archive-test';

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Workload {
  /** What goes through the ingest edge: valid events (some sent twice) and malformed ones. */
  raws: RawEvent[];
  /** Valid events as sent, duplicates included, so the log holds exactly these. */
  valid: EventInput[];
  edgeRejects: number;
  /** Records written straight to the events topic, bypassing the edge: the archiver must reject them. */
  foreign: string[];
}

export function workload(seed: number, count: number, spanHours = 72): Workload {
  const rand = rng(seed);
  // Events shuffled in time over the span, which straddles a midnight.
  const start = Date.UTC(2024, 2, 30, 22);
  const valid: EventInput[] = [];
  const raws: RawEvent[] = [];
  let edgeRejects = 0;
  for (let i = 0; i < count; i++) {
    const e = makeEvent(i, start + Math.floor(rand() * spanHours * 3_600_000), rand);
    valid.push(e);
    raws.push({ value: e });
    if (rand() < 0.05) {
      valid.push(e);
      raws.push({ value: e });
    }
    if (rand() < 0.03) {
      edgeRejects++;
      raws.push(rand() < 0.5 ? { unparsable: '{"event_id":', error: 'Unexpected end of JSON input' } : { value: { ...e, type: 'bogus' } });
    }
  }
  const foreign = [
    '{"event_id":"x1","type":"purchase"',
    JSON.stringify({ event_id: 'x2', type: 'purchase', event_time: start, user_id: 'u', product_id: 'p', amount_cents: 1.5 }),
    JSON.stringify({ event_id: 'x3', type: 'page_view', event_time: Date.now() + 30 * 86_400_000, user_id: 'u' }),
    '"just a string"',
    // A valid event but for its size (JSON allows the whitespace): the size limit counts its bytes.
    ' '.repeat(MAX_EVENT_BYTES) + JSON.stringify({ event_id: 'x4', type: 'page_view', event_time: start, user_id: 'u' }),
  ];
  return { raws, valid, edgeRejects, foreign };
}

function makeEvent(i: number, eventTime: number, rand: () => number): EventInput {
  const base = { event_id: `ev-${i}`, user_id: `user-${Math.floor(rand() * 200)}` };
  // Half the events carry an ISO time, to check the normalisation to epoch ms survives the archive.
  const event_time = rand() < 0.5 ? eventTime : new Date(eventTime).toISOString();
  switch (i % 4) {
    case 0:
      return { ...base, event_time, type: 'purchase', product_id: `sku-${i % 17}`, amount_cents: Math.floor(rand() * 2 ** 40) };
    case 1:
      return { ...base, event_time, type: 'click', ad_id: `ad-${i % 5}` };
    case 2:
      return { ...base, event_time, type: 'profile_update', tier: 'gold', country: 'DE' };
    default:
      return { ...base, event_time, type: 'page_view' };
  }
}

/** Sends the workload through the edge and the foreign records straight to the topic. */
export async function produceWorkload(log: EventLog, w: Workload): Promise<void> {
  for (let i = 0; i < w.raws.length; i += 500) {
    await ingestEvents(log, w.raws.slice(i, i + 500), { source: EDGE_SOURCE, maxFutureSkewMs: 60_000 });
  }
  await log.produce(TOPICS.events, w.foreign.map((value) => ({ key: null, value })));
}

export interface Expected {
  count: number;
  checksum: bigint;
  timeSum: bigint;
  amountSum: bigint;
}

/** 48 bits of md5 over the record's identity: the same function DuckDB evaluates below. */
function recordHash(eventId: string, partition: number, offset: number): bigint {
  return BigInt(`0x${createHash('md5').update(`${eventId}|${partition}|${offset}`).digest('hex').slice(0, 12)}`);
}

/**
 * What the archive must hold, computed from the log itself and the workload: every record of the
 * events topic except the foreign ones, once each.
 */
export async function expectedFromLog(log: EventLog, w: Workload): Promise<Expected> {
  const foreign = new Set(w.foreign);
  const byId = new Map<string, EventInput>();
  for (const e of w.valid) byId.set(e.event_id, e);
  const exp: Expected = { count: 0, checksum: 0n, timeSum: 0n, amountSum: 0n };
  const ends = await log.endOffsets(TOPICS.events);
  for (const [partition, end] of ends) {
    for (let offset = 0; offset < end; ) {
      const records = await log.read(TOPICS.events, partition, offset, 5000);
      if (records.length === 0) break;
      for (const r of records) {
        offset = r.offset + 1;
        if (foreign.has(r.value)) continue;
        const id = (JSON.parse(r.value) as { event_id: string }).event_id;
        const sent = byId.get(id);
        if (!sent) throw new Error(`the log holds an event that was never sent: ${r.value}`);
        exp.count++;
        exp.checksum += recordHash(id, partition, r.offset);
        exp.timeSum += BigInt(typeof sent.event_time === 'number' ? sent.event_time : Date.parse(sent.event_time));
        exp.amountSum += BigInt('amount_cents' in sent ? sent.amount_cents : 0);
      }
    }
  }
  return exp;
}

export interface ArchiveFacts extends Expected {
  misplaced: number;
  types: Record<string, string>;
}

/**
 * Reads the archive through the public glob, as any Parquet engine would, or through a view made
 * by `createArchiveView` on the given connection.
 */
export async function archiveFacts(dataDir: string, view?: { conn: DuckDBConnection; name: string }): Promise<ArchiveFacts> {
  const instance = view ? null : await DuckDBInstance.create(':memory:');
  const conn = view?.conn ?? (await instance!.connect());
  const source = view
    ? view.name
    : `read_parquet('${eventsArchiveGlob(dataDir)}', hive_partitioning = true, hive_types_autocast = false)`;
  try {
    const row = (
      await conn.runAndReadAll(
        `SELECT count(*)::BIGINT,
                coalesce(sum(('0x' || left(md5(event_id || '|' || log_partition || '|' || log_offset), 12))::BIGINT), 0)::HUGEINT,
                coalesce(sum(epoch_ms(event_time)), 0)::HUGEINT,
                coalesce(sum(amount_cents), 0)::HUGEINT
         FROM ${source}`,
      )
    ).getRows()[0]!;
    const facts: ArchiveFacts = {
      count: Number(row[0]),
      checksum: BigInt(row[1] as bigint),
      timeSum: BigInt(row[2] as bigint),
      amountSum: BigInt(row[3] as bigint),
      misplaced: 0,
      types: {},
    };
    if (facts.count > 0 && !view) {
      facts.misplaced = Number(
        (
          await conn.runAndReadAll(
            `SELECT count(*) FROM ${source}
             WHERE dt <> strftime(event_time AT TIME ZONE 'UTC', '%Y-%m-%d')
                OR hour <> strftime(event_time AT TIME ZONE 'UTC', '%H')`,
          )
        ).getRows()[0]![0],
      );
      const described = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`)).getRows();
      facts.types = Object.fromEntries(described.map((r) => [String(r[0]), String(r[1])]));
    }
    return facts;
  } finally {
    if (instance) {
      conn.closeSync();
      instance.closeSync();
    }
  }
}

export interface DeadLetterRecord {
  key: string | null;
  letter: { reason: string; field: string; source: string; raw: unknown };
}

export async function deadLetters(log: EventLog): Promise<DeadLetterRecord[]> {
  const out: DeadLetterRecord[] = [];
  const ends = await log.endOffsets(TOPICS.dlq);
  for (const [partition, end] of ends) {
    for (let offset = 0; offset < end; ) {
      const records = await log.read(TOPICS.dlq, partition, offset, 5000);
      if (records.length === 0) break;
      for (const r of records) {
        offset = r.offset + 1;
        out.push({ key: r.key, letter: JSON.parse(r.value) as DeadLetterRecord['letter'] });
      }
    }
  }
  return out;
}
