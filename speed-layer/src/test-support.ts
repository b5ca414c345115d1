import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  VIEWS,
  parseView,
  workloadViewInputs,
  type Event,
  type StateStore,
  type ViewDefinition,
  type WorkloadViewSettings,
} from '@lambda/shared';
import type { InputRecord } from './processor.ts';
import { readLateCounts, readSpeedView } from './reader.ts';

/** Helpers shared by the speed layer's tests. */

export interface LoggedEvent {
  event: Event;
  partition: number;
  offset: number;
}

/** The workload's views with every late policy (and optionally other fields) overridden. */
export function workloadViewsWith(overrides: Partial<Pick<ViewDefinition, 'latePolicy' | 'watermarkLagMs' | 'allowedLatenessMs'>>, settings: Partial<WorkloadViewSettings> = {}): ViewDefinition[] {
  return workloadViewInputs(settings).map((v) => parseView({ ...v, ...overrides }));
}

/** A row as text with its keys in a fixed order, for order-free comparison of row sets. */
export function rowText(r: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(r).sort().map((k) => [k, typeof r[k] === 'bigint' ? `${r[k]}n` : r[k]]));
}

export function sortedRowTexts(rows: Record<string, unknown>[]): string[] {
  return rows.map(rowText).sort();
}

/** Splits a partition's records into consecutive batches at the given cut points. */
export function splitBatches(records: InputRecord[], cuts: number[]): InputRecord[][] {
  const points = [...new Set(cuts.map((c) => c % (records.length + 1)))].sort((a, b) => a - b);
  const out: InputRecord[][] = [];
  let from = 0;
  for (const p of [...points, records.length]) {
    if (p > from) out.push(records.slice(from, p));
    from = Math.max(from, p);
  }
  return out;
}

/** Every workload view's rows and late counts, for comparing two stores exactly. */
export async function viewSnapshot(store: StateStore): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const v of VIEWS) {
    out[v.name] = sortedRowTexts(await readSpeedView(store, v));
    out[`${v.name}:late`] = [JSON.stringify(await readLateCounts(store, v.name))];
  }
  return out;
}

/** Sum of the offsets the store has committed over all partitions. */
export async function storedTotal(store: StateStore, partitions: number): Promise<number> {
  const offsets = await store.offsets([...Array(partitions).keys()]);
  return [...offsets.values()].reduce((a, b) => a + b, 0);
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LAMBDA = path.join(ROOT, 'bin/lambda.js');

export interface Services {
  redisUrl: string | null;
  kafka: { brokers: string[]; prefix: string } | null;
}

/** The environment of a `lambda` child on the given services (unset: the embedded defaults). */
export function envFor(dataDir: string, services: Services): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  for (const k of ['KAFKA_BROKERS', 'KAFKA_TOPIC_PREFIX', 'REDIS_URL']) delete env[k];
  if (services.redisUrl) env.REDIS_URL = services.redisUrl;
  if (services.kafka) Object.assign(env, { KAFKA_BROKERS: services.kafka.brokers.join(','), KAFKA_TOPIC_PREFIX: services.kafka.prefix });
  return env;
}

/** Longer than any run of the tests takes, waits on a dead member's session timeout included. */
const RUN_ONCE_TIMEOUT_MS = 240_000;

/**
 * Runs `lambda` to its end. spawnSync blocks the test's own timeout, so a run that hangs is killed
 * here and fails the test, instead of holding the test file until the runner gives up on it.
 */
export function runOnce(env: NodeJS.ProcessEnv, args: string[]): void {
  const r = spawnSync(process.execPath, [LAMBDA, ...args], { env, encoding: 'utf8', timeout: RUN_ONCE_TIMEOUT_MS, killSignal: 'SIGKILL' });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') {
    assert.fail(`lambda ${args.join(' ')} did not finish within ${RUN_ONCE_TIMEOUT_MS / 1000} s, and was killed\n${r.stderr}`);
  }
  assert.equal(r.status, 0, r.stderr);
}

/** Starts `lambda speed` in the background; the caller ends it. */
export function startSpeed(env: NodeJS.ProcessEnv, args: string[]): ChildProcess {
  return spawn(process.execPath, [LAMBDA, 'speed', ...args], { env, stdio: ['ignore', 'ignore', 'inherit'] });
}
