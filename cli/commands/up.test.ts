import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/**
 * `npm start` starts, serves `/health` and a non-empty view within a bounded time, and stops on
 * SIGINT. Runs the `start` script's command itself (not through npm, so that the signal reaches the
 * process), on the embedded defaults: a fresh data dir, no Kafka, no Redis.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const READY_MS = 90_000;
const STOP_MS = 30_000;
const POLL_MS = 400;

interface ViewAnswer {
  rows: Record<string, unknown>[];
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the failure message
  }
  return { status: res.status, body };
}

/** Polls `check` until it answers true; fails after the deadline with the last thing it saw. */
async function waitFor(what: string, deadline: number, check: () => Promise<boolean | string>): Promise<void> {
  let last = 'nothing yet';
  while (true) {
    try {
      const r = await check();
      if (r === true) return;
      last = String(r);
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${last}`);
    await delay(POLL_MS);
  }
}

test('npm start serves /health and non-empty views within a bounded time, and stops on SIGINT', { timeout: 180_000 }, async (t) => {
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const [cmd, ...args] = pkg.scripts.start.split(' ').filter((s) => s !== '');
  assert.equal(cmd, 'node', `the start script should run node: ${pkg.scripts.start}`);

  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lambda-up-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
  for (const k of ['KAFKA_BROKERS', 'REDIS_URL', 'KAFKA_TOPIC_PREFIX']) delete env[k];

  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const output = () => `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;

  const deadline = Date.now() + READY_MS;
  let base = '';
  await waitFor('the address on stdout', deadline, async () => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`lambda up exited early${output()}`);
    const m = /^\s*health\s+(http:\/\/\S+)\/health\s*$/m.exec(stdout);
    if (m) base = m[1]!;
    return m !== null || 'no health line';
  });
  assert.match(base, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/, `PORT=0 must print the real port${output()}`);

  await waitFor('/health ok', deadline, async () => {
    const r = await getJson(`${base}/health`);
    return (r.status === 200 && (r.body as { status?: string }).status === 'ok') || `${r.status} ${JSON.stringify(r.body)}`;
  });

  const nonEmpty = (view: string, column: string) =>
    waitFor(`a row of ${view} with ${column} > 0`, deadline, async () => {
      const r = await getJson(`${base}/v1/views/${view}`);
      if (r.status !== 200) return `${r.status} ${JSON.stringify(r.body)}`;
      const rows = (r.body as ViewAnswer).rows;
      return rows.some((row) => Number(row[column]) > 0) || `${rows.length} rows, none with ${column} > 0`;
    });
  await nonEmpty('revenue_per_minute', 'purchases');
  await nonEmpty('active_users', 'active_users');

  assert.ok(child.kill('SIGINT'));
  const stopped = await Promise.race([exited, delay(STOP_MS, 'timeout' as const, { ref: false })]);
  assert.notEqual(stopped, 'timeout', `lambda up did not stop within ${STOP_MS} ms of SIGINT${output()}`);
  assert.deepEqual(stopped, { code: 0, signal: null }, `lambda up should exit 0 on SIGINT${output()}`);

  for (const route of ['/health', '/v1/views/revenue_per_minute', '/v1/drift', '/docs', '/metrics']) {
    assert.ok(stdout.includes(`${base}${route}`), `stdout should mention ${base}${route}${output()}`);
  }
});
