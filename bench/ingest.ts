// `npm run bench -- ingest [--events N] [--connections C]`: events/s through `POST /v1/events` into
// real Kafka with batches of 500, and its ratio to a raw kafkajs producer sending the same events
// in the same batches, measured in the same run.
//
// The HTTP client runs in a worker thread (this same file), as a separate producer would: the
// figure is the serving layer's, not the serving layer's plus its own load generator's.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Kafka, logLevel, type Message } from 'kafkajs';
import {
  DEFAULT_TOPICS,
  TOPICS,
  WORKLOAD_DEFAULTS,
  Workload,
  createLogger,
  itemLine,
  loadConfig,
  workloadSpanMs,
  type WorkloadItem,
} from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import { buildApp } from '@lambda/serving-layer';
import { machine } from './_kafka.ts';

const BATCH = 500;
/** Batches sent before timing starts, on both paths: connections, topic metadata, JIT. */
const WARMUP_BATCHES = 20;

interface ClientJob {
  url: string;
  bodies: string[];
  connections: number;
}
type ClientMessage = { progress: number } | { done: number; seconds: number };

if (isMainThread) await main();
else await client(workerData as ClientJob);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { events: { type: 'string', default: '500000' }, connections: { type: 'string', default: '16' } },
  });
  const events = Number(values.events);
  const connections = Number(values.connections);
  if (!Number.isSafeInteger(events) || events <= 0) throw new Error('--events must be a positive integer');
  if (!Number.isSafeInteger(connections) || connections <= 0) throw new Error('--connections must be a positive integer');

  const brokers = (process.env.KAFKA_BROKERS || '127.0.0.1:19092').split(',');
  const prefix = `bench-ingest-${process.pid}-${Date.now()}.`;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bench-ingest-'));
  const config = loadConfig({
    ...process.env,
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_TOPIC_PREFIX: prefix,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
  });
  const kafka = new Kafka({ clientId: 'bench-ingest-raw', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const log = await openEventLog(config, { forProducing: true });
  const app = buildApp({ config, log, logger: createLogger('bench-ingest', 'warn') });

  try {
    await log.ensureTopics(DEFAULT_TOPICS);
    const rawTopic = `${prefix}raw`;
    await admin.createTopics({ topics: [{ topic: rawTopic, numPartitions: 3 }], waitForLeaders: true });
    const batches = generate(events + WARMUP_BATCHES * BATCH);
    const url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/v1/events`;

    const ingest = await viaHttp(url, batches, connections);
    const stored = [...(await log.endOffsets(TOPICS.events)).values()].reduce((a, b) => a + b, 0);
    if (stored !== events + WARMUP_BATCHES * BATCH) throw new Error(`the events topic holds ${stored} records, expected ${events + WARMUP_BATCHES * BATCH}`);
    const raw = await viaKafkajs(kafka, rawTopic, batches, connections);
    const ratio = ingest / raw;
    console.error(
      `ingest bench: ${events} events, batches of ${BATCH}, ${connections} connections; ` +
        `POST /v1/events ${Math.round(ingest)} ev/s; raw kafkajs ${Math.round(raw)} ev/s; ratio ${ratio.toFixed(2)}`,
    );
    console.log(
      JSON.stringify({
        bench: 'ingest',
        events,
        batch: BATCH,
        connections,
        events_per_s: Math.round(ingest),
        raw_kafkajs_events_per_s: Math.round(raw),
        ratio: Number(ratio.toFixed(3)),
        machine: machine(),
        date: new Date().toISOString(),
      }),
    );
  } finally {
    await app.close();
    await log.close();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** The generator's valid events, ending now, cut into batches of 500. */
function generate(count: number): WorkloadItem[][] {
  const options = { ...WORKLOAD_DEFAULTS, count, startTime: 0 };
  const workload = new Workload({ ...options, startTime: Date.now() - workloadSpanMs(options) });
  const batches: WorkloadItem[][] = [];
  let batch: WorkloadItem[] = [];
  for (const item of workload) {
    batch.push(item);
    if (batch.length === BATCH) {
      batches.push(batch);
      batch = [];
    }
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

async function viaHttp(url: string, batches: WorkloadItem[][], connections: number): Promise<number> {
  const bodies = batches.map((b) => `[${b.map(itemLine).join(',')}]`);
  const warmup = bodies.splice(0, WARMUP_BATCHES);
  await runClient({ url, bodies: warmup, connections });
  const { done, seconds } = await runClient({ url, bodies, connections });
  return done / seconds;
}

function runClient(job: ClientJob): Promise<{ done: number; seconds: number }> {
  // Node 20 does not run a worker's TypeScript entry through tsx, so a JS stub registers it first.
  const entry = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(entry, { eval: true, workerData: job });
  return new Promise((resolve, reject) => {
    worker.on('message', (m: ClientMessage) => {
      if ('progress' in m) process.stderr.write(`ingest bench: POST ${m.progress} events\n`);
      else resolve(m);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the client worker exited with ${code}`)));
  });
}

/** The worker: `connections` request loops over the bodies, each awaiting its response. */
async function client({ url, bodies, connections }: ClientJob): Promise<void> {
  const port = parentPort!;
  let next = 0;
  let done = 0;
  const started = performance.now();
  let reported = started;
  const loop = async () => {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const answer = (await res.json()) as { accepted: number; rejected: unknown[]; message?: string };
      if (res.status !== 200 || answer.rejected.length > 0) {
        throw new Error(`POST answered ${res.status}: ${answer.message ?? JSON.stringify(answer.rejected[0])}`);
      }
      done += answer.accepted;
      if (performance.now() - reported >= 2000) {
        reported = performance.now();
        port.postMessage({ progress: done } satisfies ClientMessage);
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  port.postMessage({ done, seconds: (performance.now() - started) / 1000 } satisfies ClientMessage);
}

/** The limit: kafkajs sending the same records (keyed by user) in the same batches, acks from all replicas. */
async function viaKafkajs(kafka: Kafka, topic: string, batches: WorkloadItem[][], connections: number): Promise<number> {
  const messages: Message[][] = batches.map((b) => b.map((i) => ({ key: i.event!.user_id as string, value: itemLine(i) })));
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const send = async (list: Message[][]) => {
    let next = 0;
    const loop = async () => {
      while (next < list.length) await producer.send({ topic, acks: -1, messages: list[next++]! });
    };
    await Promise.all(Array.from({ length: connections }, loop));
  };
  await send(messages.splice(0, WARMUP_BATCHES));
  const started = performance.now();
  await send(messages);
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  return messages.reduce((n, m) => n + m.length, 0) / seconds;
}
