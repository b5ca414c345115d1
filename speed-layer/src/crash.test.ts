import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { DEFAULT_TOPICS, KafkaLog, MemoryStateStore, RedisStateStore, TOPICS, type StateStore } from '@lambda/shared';
import { kafkaBrokersFor, kafkaPrefixFor, redisUrlFor, waitUntil } from '@lambda/shared/testing/services';
import { envFor, runOnce, startSpeed, storedTotal, viewSnapshot, type Services } from './test-support.ts';

/** Starts `lambda speed` and SIGKILLs it once `trigger` resolves (or it exits by itself). */
async function killWhen(env: NodeJS.ProcessEnv, args: string[], trigger: (child: ChildProcess) => Promise<unknown>): Promise<void> {
  const child = startSpeed(env, args);
  const exited = once(child, 'exit');
  try {
    await Promise.race([trigger(child), exited]);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

// A small seeded PRNG, so a failing schedule of kills can be reproduced from the printed seed.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

async function crashTest(t: TestContext, services: Services): Promise<void> {
  const { redisUrl, kafka } = services;
  const base = await mkdtemp(path.join(os.tmpdir(), 'speed-crash-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  const crashed = path.join(base, 'crashed');
  const clean = path.join(base, 'clean');
  runOnce(envFor(crashed, services), ['generate', '--events', '30000', '--late-share', '0.05', '--duplicate-share', '0.03', '--malformed-share', '0.01', '--users', '300']);
  // On Kafka both runs read the same topics; the embedded log is copied.
  if (!kafka) await cp(path.join(crashed, 'log'), path.join(clean, 'log'), { recursive: true });

  const prefixes = [`test:${randomUUID()}:`, `test:${randomUUID()}:`];
  const args = (i: number) => ['--batch-records', '300', '--checkpoint-interval', '150', ...(redisUrl ? ['--key-prefix', prefixes[i]!] : [])];
  const seed = Date.now() % 100_000;
  t.diagnostic(`kill schedule seed ${seed}`);
  const random = rng(seed);
  const open = async (dir: string, i: number): Promise<StateStore> =>
    redisUrl ? RedisStateStore.open({ url: redisUrl, keyPrefix: prefixes[i]! }) : MemoryStateStore.open({ dir: path.join(dir, 'speed'), readOnly: true });
  const env = envFor(crashed, services);
  if (kafka) {
    // A SIGKILLed member stays in the group until its session times out, so each restart waits for
    // a rebalance: kill each run a random moment after it first commits, fewer times.
    const a = (await open(crashed, 0)) as RedisStateStore;
    const partitions = DEFAULT_TOPICS.find((s) => s.name === TOPICS.events)!.partitions;
    const log = new KafkaLog({ brokers: kafka.brokers, topicPrefix: kafka.prefix });
    try {
      const end = [...(await log.endOffsets(TOPICS.events)).values()].reduce((x, y) => x + y, 0);
      for (let i = 0; i < 3; i++) {
        const before = await storedTotal(a, partitions);
        await killWhen(env, args(0), async () => {
          // An earlier run may have processed the whole log: then no commit is left to wait for.
          const moved = async () => {
            const total = await storedTotal(a, partitions);
            return total > before || total >= end;
          };
          await waitUntil('a commit by the restarted speed layer', moved, 120_000);
          await delay(Math.floor(random() * 800));
        });
      }
    } finally {
      await a.close();
      await log.close();
    }
  } else {
    // A killed memory-store owner leaves its lock file, which its successor takes over once stale
    // (about 7 s): kill after that, so that every run gets to process part of the log.
    const wait = redisUrl ? 700 : 7_500;
    for (let i = 0; i < 5; i++) await killWhen(env, args(0), () => delay(wait + Math.floor(random() * 1500)));
  }
  runOnce(env, ['speed', '--once', ...args(0)]);
  runOnce(envFor(clean, services), ['speed', '--once', ...args(1)]);

  const [a, b] = [await open(crashed, 0), await open(clean, 1)];
  try {
    const expected = await viewSnapshot(b);
    assert.ok(expected.revenue_per_minute!.length > 0 && expected.sessions!.length > 0, 'the uninterrupted run produced views');
    assert.deepEqual(await viewSnapshot(a), expected);
  } finally {
    for (const s of [a, b]) {
      if (s instanceof RedisStateStore) await s.clear();
      await s.close();
    }
  }
}

test('SIGKILL at random moments, restart each time: views equal an uninterrupted run (embedded log, memory store)', { timeout: 180_000 }, async (t) => {
  await crashTest(t, { redisUrl: null, kafka: null });
});

test('SIGKILL at random moments, restart each time: views equal an uninterrupted run (embedded log, Redis)', { timeout: 180_000 }, async (t) => {
  const url = await redisUrlFor(t);
  if (url) await crashTest(t, { redisUrl: url, kafka: null });
});

test('SIGKILL at random moments, restart each time: views equal an uninterrupted run (Kafka, Redis)', { timeout: 480_000 }, async (t) => {
  const [brokers, url] = [await kafkaBrokersFor(t), await redisUrlFor(t)];
  if (brokers && url) await crashTest(t, { redisUrl: url, kafka: { brokers, prefix: kafkaPrefixFor(t, brokers, 'speed-crash') } });
});
