import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { KafkaLog } from '../log/kafka-log.ts';

/**
 * Tests that need the real Kafka broker or Redis server find them here. Outside CI they skip with
 * a message naming the command that starts the services; with LAMBDA_REQUIRE_SERVICES=1 (set by
 * .ci/run) a missing service fails the test instead, so CI cannot pass by skipping.
 */
export const TEST_KAFKA_BROKERS = (process.env.TEST_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:16379';

const required = process.env.LAMBDA_REQUIRE_SERVICES === '1';

export async function kafkaBrokersFor(t: TestContext): Promise<string[] | null> {
  const [host, port] = splitHostPort(TEST_KAFKA_BROKERS[0] ?? '');
  return (await reachable(host, port)) ? TEST_KAFKA_BROKERS : absent(t, `Kafka at ${TEST_KAFKA_BROKERS.join(',')}`);
}

export async function redisUrlFor(t: TestContext): Promise<string | null> {
  const u = new URL(TEST_REDIS_URL);
  return (await reachable(u.hostname, Number(u.port || 6379))) ? TEST_REDIS_URL : absent(t, `Redis at ${TEST_REDIS_URL}`);
}

/** A unique topic/group prefix on the real broker; its topics and groups are deleted after the test. */
export function kafkaPrefixFor(t: TestContext, brokers: string[], name: string): string {
  const prefix = `test-${name}-${randomUUID()}.`;
  t.after(async () => {
    const admin = new KafkaLog({ brokers }).kafka.admin();
    await admin.connect();
    try {
      const { groups } = await admin.listGroups();
      const mine = groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
      // A group whose killed member has not timed out yet refuses deletion; the broker expires it.
      if (mine.length > 0) await admin.deleteGroups(mine).catch(() => undefined);
      const topics = (await admin.listTopics()).filter((n) => n.startsWith(prefix));
      if (topics.length > 0) await admin.deleteTopics({ topics });
    } finally {
      await admin.disconnect();
    }
  });
  return prefix;
}

/** Resolves once `check` answers true, polling; fails after `timeoutMs` naming `what`. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(100);
  }
}

function absent(t: TestContext, what: string): null {
  const message = `${what} is not reachable; start the real services with \`npm run services:up\``;
  if (required) throw new Error(`${message} (LAMBDA_REQUIRE_SERVICES=1: this test may not skip)`);
  t.skip(message);
  return null;
}

function splitHostPort(hp: string): [string, number] {
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i), Number(hp.slice(i + 1))];
}

function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
