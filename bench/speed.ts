// `npm run bench -- speed [--events N] [--naive-events M] [--batch-records B]`: the speed layer's sustained events/s
// from real Kafka into real Redis for all the workload's views, exactly-once on (fenced commits),
// against two baselines measured in the same run on the same topic:
// - the limit: a raw kafkajs consumer that only counts records, run before the speed layer and
//   again after it, the ratio taken to the mean of the two: this machine's speed drifts 15-30%
//   within minutes, and one raw run a minute before the speed run moved the ratio with it;
// - the common tutorial design: a consumer that updates Redis once per event (one MULTI per event,
//   awaited before the next), the same views' windows and aggregates, no dedupe, no exactly-once.
//   It is run over the first M events only: its rate is flat, and a full run would take an hour.
// And, to show where the rest goes, the speed layer's own consumer alone (its thread fetching and
// decoding the events as in the speed run, the batches only counted): what any work on the events
// is bounded by, on this consumer, before a view or the store is touched.
// RSS is sampled through the speed run (start, end, max) to show that state and memory stay bounded.
// CPU time is counted around the raw and the speed runs (this process with all its threads, and the
// Redis server), per event: on a machine whose cores the speed run fills, the ratio to consume-only
// is bounded by how much more CPU an event costs here than there.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import {
  DEFAULT_TOPICS,
  fetchLimits,
  RedisStateStore,
  TOPICS,
  VIEWS,
  Workload,
  itemLine,
  loadConfig,
  validateEvent,
  windowsFor,
  type Event,
  type FixedWindow,
} from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import { DEFAULT_MAX_BATCH_RECORDS, compileView, speedConsumeOptions, startSpeedLayer } from '@lambda/speed-layer';
import { fillTopic, machine, rawConsumeRate, timedFromAssignment } from './_kafka.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '5000000' },
    'naive-events': { type: 'string', default: '100000' },
    'batch-records': { type: 'string', default: String(DEFAULT_MAX_BATCH_RECORDS) },
  },
});
const batchRecords = Number(values['batch-records']);
const events = Number(values.events);
const naiveEvents = Math.min(events, Number(values['naive-events']));
if (!Number.isSafeInteger(events) || events <= 0) throw new Error('--events must be a positive integer');
if (!Number.isSafeInteger(naiveEvents) || naiveEvents <= 0) throw new Error('--naive-events must be a positive integer');
if (!Number.isSafeInteger(batchRecords) || batchRecords <= 0) throw new Error('--batch-records must be a positive integer');

const brokers = (process.env.KAFKA_BROKERS || '127.0.0.1:19092').split(',');
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:16379';
const prefix = `bench-speed-${process.pid}-${Date.now()}.`;
const topic = `${prefix}${TOPICS.events}`;
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bench-speed-'));
const config = loadConfig({ ...process.env, KAFKA_BROKERS: brokers.join(','), KAFKA_TOPIC_PREFIX: prefix, REDIS_URL: redisUrl, DATA_DIR: dataDir });
const kafka = new Kafka({ clientId: 'bench-speed', brokers, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const log = await openEventLog(config, { clientId: 'bench-speed' });
const store = await RedisStateStore.open({ url: redisUrl, keyPrefix: `${prefix}speed:` });
const naiveRedis = new Redis(redisUrl);
const naivePrefix = `${prefix}naive:`;

// The chapter's shop at 2,000 events/s of event time: 5 M events are about 42 minutes of windows,
// with late phones, retried (duplicate) sends and the error spike and login bursts the views alert on.
const workload = new Workload({
  seed: 7,
  count: events,
  rate: 2_000,
  startTime: Date.UTC(2024, 4, 1),
  users: 50_000,
  products: 500,
  lateShare: 0.02,
  lateDelayMs: 60_000,
  duplicateShare: 0.01,
  malformedShare: 0,
  loginBurstsPerHour: 600,
});

try {
  await log.ensureTopics(DEFAULT_TOPICS);
  const items = workload[Symbol.iterator]();
  const filled = await fillTopic(kafka, topic, events, () => {
    const item = items.next().value!;
    return { key: String(item.event!.user_id), value: itemLine(item) };
  });
  console.error(`speed bench: produced ${events} events in ${filled.toFixed(1)} s`);
  const consumeOptions = await speedConsumeOptions(log, batchRecords);

  const before = await rawRun('before', consumeOptions.fetchBytes);
  const beforeSpeed = await cpuNow();
  const speed = await speedRun();
  const speedCpu = cpuSince(beforeSpeed, await cpuNow());
  console.error(`speed bench: speed layer ${Math.round(speed.rate)} ev/s; RSS ${mib(speed.rss.start)} -> ${mib(speed.rss.end)} MiB (max ${mib(speed.rss.firstHalfMax)} in the first half, ${mib(speed.rss.secondHalfMax)} in the second)`);
  const after = await rawRun('after', consumeOptions.fetchBytes);
  const raw = (before.rate + after.rate) / 2;
  const alone = await consumerAloneRun(consumeOptions);
  const cpu = {
    raw_consume_us_per_event: perEvent((before.cpu + after.cpu) / 2),
    consumer_alone_us_per_event: perEvent(alone.cpu),
    speed_us_per_event: perEvent(speedCpu.node),
    speed_redis_us_per_event: perEvent(speedCpu.redis),
    speed_cores_busy: round((speedCpu.node + speedCpu.redis) / speedCpu.seconds),
  };
  console.error(
    `speed bench: CPU per event: raw consume ${cpu.raw_consume_us_per_event} us; speed layer ${cpu.speed_us_per_event} us (all of node's threads) + ${cpu.speed_redis_us_per_event} us (Redis), ${cpu.speed_cores_busy} of ${os.cpus().length} cores busy`,
  );
  const naive = await naiveRun();
  console.error(`speed bench: naive per-event Redis updates ${Math.round(naive)} ev/s over ${naiveEvents} events`);

  const vsRaw = speed.rate / raw;
  const vsNaive = speed.rate / naive;
  console.error(
    `speed bench: ratio to consume-only ${vsRaw.toFixed(2)} (goal >= 0.6), its consumer alone ${(alone.rate / raw).toFixed(2)}; to naive ${vsNaive.toFixed(1)} (goal >= 30)`,
  );
  console.log(
    JSON.stringify({
      bench: 'speed',
      events,
      batch_records: batchRecords,
      views: VIEWS.length,
      speed_events_per_s: Math.round(speed.rate),
      raw_consume_events_per_s: Math.round(raw),
      raw_consume_runs_events_per_s: { before: Math.round(before.rate), after: Math.round(after.rate) },
      consumer_alone_events_per_s: Math.round(alone.rate),
      ratio_consumer_alone_to_consume_only: round(alone.rate / raw),
      naive_events_per_s: Math.round(naive),
      naive_events: naiveEvents,
      ratio_to_consume_only: round(vsRaw),
      ratio_to_naive: round(vsNaive),
      goals: { ratio_to_consume_only: 0.6, ratio_to_naive: 30, events_per_s: 100_000 },
      applied: speed.stats.events,
      duplicates: speed.stats.duplicates,
      late: speed.stats.late,
      batches: speed.stats.batches,
      state_entries: await store.size(),
      cpu,
      rss_mib: {
        start: mib(speed.rss.start),
        end: mib(speed.rss.end),
        max: mib(speed.rss.max),
        max_first_half: mib(speed.rss.firstHalfMax),
        max_second_half: mib(speed.rss.secondHalfMax),
      },
      machine: machine(),
      date: new Date().toISOString(),
    }),
  );
} finally {
  await log.close();
  await store.clear();
  await store.close();
  await clearPrefix(naivePrefix);
  await naiveRedis.quit();
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.deleteGroups([`${prefix}speed`, `${prefix}bench-raw-before`, `${prefix}bench-raw-after`, `${prefix}bench-consumer-alone`, `${prefix}bench-naive`]).catch(() => undefined);
  await admin.disconnect();
  await rm(dataDir, { recursive: true, force: true });
}

/** The raw consume-only rate over the whole topic, and the process's CPU seconds for it. */
async function rawRun(when: 'before' | 'after', fetchBytes: number | undefined): Promise<{ rate: number; cpu: number }> {
  const start = await cpuNow();
  // Fetching as much at a time as the speed layer does.
  const rate = await rawConsumeRate(kafka, `${prefix}bench-raw-${when}`, topic, events, fetchBytes);
  const cpu = cpuSince(start, await cpuNow()).node;
  console.error(`speed bench: raw kafkajs consume (${when} the speed layer) ${Math.round(rate)} ev/s, ${perEvent(cpu)} us of CPU per event`);
  return { rate, cpu };
}

/** The speed layer's consumer over the whole topic with nothing done to the events, timed like the others; and its CPU seconds. */
async function consumerAloneRun(consumeOptions: Awaited<ReturnType<typeof speedConsumeOptions>>): Promise<{ rate: number; cpu: number }> {
  const start = await cpuNow();
  const timed = timedFromAssignment(log);
  let seen = 0;
  const handle = await timed.log.consume({
    ...consumeOptions,
    group: 'bench-consumer-alone',
    untilEnd: true,
    startOffsets: async (partitions) => new Map(partitions.map((p) => [p, 0])),
    onBatch: async (batch) => {
      seen += batch.events!.length;
    },
  });
  await handle.done;
  const seconds = (performance.now() - timed.assignedAt()) / 1000;
  const cpu = cpuSince(start, await cpuNow()).node;
  if (seen !== events) throw new Error(`the consumer alone read ${seen} of ${events} records`);
  const rate = events / seconds;
  console.error(`speed bench: the speed layer's consumer alone (events decoded on its thread, no views, no store) ${Math.round(rate)} ev/s, ${perEvent(cpu)} us of CPU per event`);
  return { rate, cpu };
}

/** `lambda speed --once` over the whole topic, in process, timed like the raw loop from its assignment. */
async function speedRun() {
  const timed = timedFromAssignment(log);
  const rss = { start: 0, end: 0, max: 0, firstHalfMax: 0, secondHalfMax: 0 };
  // State that grows to a bound (the seen index: two horizons of ids) is flat from then on: the
  // peaks of the two halves of the run show whether the second grew past the first.
  const samples: { at: number; rss: number }[] = [];
  const sample = () => {
    const now = process.memoryUsage.rss();
    if (rss.start === 0 && timed.assignedAt() > 0) rss.start = now;
    if (rss.start !== 0) samples.push({ at: performance.now(), rss: now });
    rss.max = Math.max(rss.max, now);
  };
  const sampler = setInterval(sample, 250);
  try {
    const running = await startSpeedLayer({ log: timed.log, store, dataDir, once: true, maxBatchRecords: batchRecords });
    const stats = await running.done;
    const seconds = (performance.now() - timed.assignedAt()) / 1000;
    rss.end = process.memoryUsage.rss();
    const middle = timed.assignedAt() + (seconds * 1000) / 2;
    for (const x of samples) {
      if (x.at < middle) rss.firstHalfMax = Math.max(rss.firstHalfMax, x.rss);
      else rss.secondHalfMax = Math.max(rss.secondHalfMax, x.rss);
    }
    if (stats.records !== events) throw new Error(`the speed layer read ${stats.records} of ${events} records`);
    return { rate: events / seconds, stats, rss };
  } finally {
    clearInterval(sampler);
  }
}

/**
 * The tutorial design: for each record, parse and validate it, then one MULTI with an HINCRBY per
 * aggregate of every window it falls in (and, for session views, the key's last-seen time), awaited
 * before the next record. It computes less than the speed layer (no sessions, no dedupe, no
 * lateness, no offsets in the store) and is still far slower: one round trip per event.
 */
async function naiveRun(): Promise<number> {
  const views = VIEWS.map(compileView);
  const consumer = kafka.consumer({ groupId: `${prefix}bench-naive`, ...fetchLimits() });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  let started = 0;
  const apply = async (e: Event) => {
    const tx = naiveRedis.multi();
    for (const v of views) {
      if (!v.accepts(e)) continue;
      const key = v.keyOf(e);
      if (v.def.window.kind === 'session') {
        tx.zadd(`${naivePrefix}${v.def.name}:last`, e.event_time, key);
        continue;
      }
      for (const w of windowsFor(e.event_time, v.def.window as FixedWindow)) {
        for (const a of v.aggregates) {
          const c = a.contribution(e);
          if (c !== undefined && (a.def.fn === 'count' || a.def.fn === 'sum')) tx.hincrby(`${naivePrefix}${v.def.name}:${w.start}`, `${a.def.name}:${key}`, String(c));
        }
      }
    }
    await tx.exec();
  };
  const finished = new Promise<void>((resolve, reject) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        if (seen >= naiveEvents) return;
        if (started === 0) started = performance.now();
        const v = validateEvent(JSON.parse(message.value!.toString()), { now: Date.now(), maxFutureSkewMs: Infinity });
        if (v.ok) await apply(v.event).catch(reject);
        if (++seen >= naiveEvents) resolve();
      },
    });
  });
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await consumer.disconnect();
  return naiveEvents / seconds;
}

interface CpuReading {
  at: number;
  /** Seconds of CPU: this process, all its threads (the consumer's worker, V8's helpers). */
  node: number;
  /** Seconds of CPU of the Redis server, all its threads. */
  redis: number;
}

async function cpuNow(): Promise<CpuReading> {
  const { user, system } = process.cpuUsage();
  const info = await naiveRedis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1]);
  return { at: performance.now(), node: (user + system) / 1e6, redis: field('used_cpu_sys') + field('used_cpu_user') };
}

function cpuSince(from: CpuReading, to: CpuReading): { seconds: number; node: number; redis: number } {
  return { seconds: (to.at - from.at) / 1000, node: to.node - from.node, redis: to.redis - from.redis };
}

/** Microseconds per event of the run. */
function perEvent(seconds: number): number {
  return Math.round((seconds * 1e7) / events) / 10;
}

async function clearPrefix(p: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await naiveRedis.scan(cursor, 'MATCH', `${p}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await naiveRedis.del(...keys);
  } while (cursor !== '0');
}

function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
