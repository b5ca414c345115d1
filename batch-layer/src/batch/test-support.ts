import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { DEFAULT_TOPICS, TOPICS, ingestEvents, loadConfig, type RawEvent } from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import { startArchiver } from '../archive/archiver.ts';
import type { TestEvent } from '../compiler/test-support.ts';

/** Shared by the batch tests: temp data dirs, the embedded log + archive, and `lambda` children. */

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const lambdaBin = path.join(repoRoot, 'bin', 'lambda.js');

export async function tempDataDir(t: TestContext, prefix = 'batch-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Sends raw events through the ingest edge into the embedded log, then archives the log once. */
export async function ingestAndArchive(dataDir: string, raws: RawEvent[]): Promise<void> {
  const log = await openEventLog(loadConfig({ DATA_DIR: dataDir }));
  try {
    await log.ensureTopics(DEFAULT_TOPICS);
    for (let i = 0; i < raws.length; i += 500) {
      await ingestEvents(log, raws.slice(i, i + 500), { source: 'batch-test', maxFutureSkewMs: 60_000 });
    }
    await (await startArchiver({ log, dataDir, once: true })).done;
  } finally {
    await log.close();
  }
}

/** Every record of the events topic, with its log position: what the reference computes from. */
export async function eventsInLog(dataDir: string): Promise<TestEvent[]> {
  const log = await openEventLog(loadConfig({ DATA_DIR: dataDir }));
  const out: TestEvent[] = [];
  try {
    for (const [partition, end] of await log.endOffsets(TOPICS.events)) {
      for (let offset = 0; offset < end; ) {
        const records = await log.read(TOPICS.events, partition, offset, 5000);
        if (records.length === 0) break;
        for (const r of records) {
          offset = r.offset + 1;
          const e = JSON.parse(r.value) as Record<string, unknown>;
          out.push({
            event_id: e.event_id as string,
            type: e.type as TestEvent['type'],
            event_time: typeof e.event_time === 'number' ? e.event_time : Date.parse(e.event_time as string),
            user_id: e.user_id as string,
            product_id: (e.product_id as string | undefined) ?? null,
            ad_id: (e.ad_id as string | undefined) ?? null,
            amount_cents: (e.amount_cents as number | undefined) ?? null,
            log_partition: partition,
            log_offset: r.offset,
          });
        }
      }
    }
  } finally {
    await log.close();
  }
  return out;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface LambdaChild {
  child: ChildProcess;
  exited: Promise<ChildResult>;
  /** Resolves when stderr first matches (or the child exits). */
  stderrMatches(re: RegExp): Promise<void>;
}

export function spawnLambda(dataDir: string, args: string[]): LambdaChild {
  const child = spawn(process.execPath, [lambdaBin, ...args], {
    cwd: repoRoot,
    env: { ...process.env, DATA_DIR: dataDir, KAFKA_BROKERS: '', REDIS_URL: '', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<ChildResult>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return {
    child,
    exited,
    stderrMatches: (re) =>
      new Promise((resolve) => {
        const check = () => {
          if (re.test(stderr)) {
            child.stderr!.off('data', check);
            resolve();
          }
        };
        child.stderr!.on('data', check);
        void exited.then(() => resolve());
        check();
      }),
  };
}

export async function runLambda(dataDir: string, args: string[]): Promise<ChildResult> {
  return spawnLambda(dataDir, args).exited;
}
