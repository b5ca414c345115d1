import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { AssignerProtocol } from 'kafkajs';
import {
  DEFAULT_TOPICS,
  KafkaLog,
  RedisStateStore,
  TOPICS,
  WORKLOAD_DEFAULTS,
  Workload,
  ingestEvents,
  itemRaw,
  workloadSpanMs,
  type WorkloadItem,
} from '@lambda/shared';
import { kafkaBrokersFor, kafkaPrefixFor, redisUrlFor, waitUntil } from '@lambda/shared/testing/services';
import { SPEED_GROUP } from './speed-layer.ts';
import { envFor, runOnce, startSpeed, storedTotal, viewSnapshot } from './test-support.ts';

const EVENTS = 40_000;
const RATE = 200;

test('two instances in one group, one SIGKILLed mid-stream: the survivor takes over, views equal a single uninterrupted run (Kafka, Redis)', { timeout: 300_000 }, async (t) => {
  const [brokers, redisUrl] = [await kafkaBrokersFor(t), await redisUrlFor(t)];
  if (!brokers || !redisUrl) return;
  // Registered first, so the children die even when a later clean-up step fails.
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  const prefix = kafkaPrefixFor(t, brokers, 'speed-rebalance');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'speed-rebalance-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const [shared, single] = [`test:${randomUUID()}:`, `test:${randomUUID()}:`];
  const stores = await Promise.all([shared, single].map((keyPrefix) => RedisStateStore.open({ url: redisUrl, keyPrefix })));
  t.after(async () => {
    for (const s of stores) {
      await s.clear();
      await s.close();
    }
  });
  const [sharedStore, singleStore] = stores as [RedisStateStore, RedisStateStore];
  const log = new KafkaLog({ brokers, topicPrefix: prefix });
  const admin = log.kafka.admin();
  await admin.connect();
  t.after(async () => {
    await admin.disconnect();
    await log.close();
  });
  await log.ensureTopics(DEFAULT_TOPICS);
  const partitions = DEFAULT_TOPICS.find((s) => s.name === TOPICS.events)!.partitions;

  const items = [
    ...new Workload({
      ...WORKLOAD_DEFAULTS,
      count: EVENTS,
      rate: RATE,
      startTime: Date.now() - workloadSpanMs({ count: EVENTS, rate: RATE }),
      users: 300,
      products: 50,
      lateShare: 0.05,
      duplicateShare: 0.03,
      malformedShare: 0.01,
    }),
  ];
  const ingest = async (part: WorkloadItem[]) => {
    for (let i = 0; i < part.length; i += 2_000) {
      await ingestEvents(log, part.slice(i, i + 2_000).map(itemRaw), { source: 'test', maxFutureSkewMs: 5 * 60_000 });
    }
  };
  const cut = Math.floor(items.length * 0.6);

  const env = envFor(dataDir, { redisUrl, kafka: { brokers, prefix } });
  const args = ['--batch-records', '300', '--key-prefix', shared];
  const [victim, survivor] = [startSpeed(env, args), startSpeed(env, args)];
  children.push(victim, survivor);
  const exits = [once(victim, 'exit'), once(survivor, 'exit')];

  // Both members must hold partitions before one dies, so that the survivor has some to take over.
  // The first records go in only then: a lone first member would otherwise process them all
  // before the second joins, and no commit would be left to kill it in the middle of.
  await waitUntil(
    'both speed instances to hold partitions',
    async () => {
      const [group] = (await admin.describeGroups([prefix + SPEED_GROUP])).groups;
      if (group?.state !== 'Stable' || group.members.length !== 2) return false;
      return group.members.every((m) => (AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[prefix + TOPICS.events]?.length ?? 0) > 0);
    },
    120_000,
  );
  const before = await storedTotal(sharedStore, partitions);
  await ingest(items.slice(0, cut));
  await waitUntil('the group to commit batches', async () => (await storedTotal(sharedStore, partitions)) > before, 60_000);
  await delay(Math.floor(Math.random() * 500));
  victim.kill('SIGKILL');
  await exits[0];

  // The victim's partitions get records only the survivor can process, once it has taken them over
  // (after the victim's session times out).
  await ingest(items.slice(cut));
  const ends = await log.endOffsets(TOPICS.events);
  const total = [...ends.values()].reduce((a, b) => a + b, 0);
  await waitUntil('the survivor to process every partition to the end', async () => (await storedTotal(sharedStore, partitions)) === total, 180_000);
  survivor.kill('SIGTERM');
  const [code] = (await exits[1]) as [number | null];
  assert.equal(code, 0, 'the survivor shuts down cleanly on SIGTERM');
  runOnce(env, ['speed', '--once', ...args]);

  runOnce(env, ['speed', '--once', '--batch-records', '300', '--key-prefix', single]);
  const expected = await viewSnapshot(singleStore);
  assert.ok(expected.revenue_per_minute!.length > 0 && expected.sessions!.length > 0, 'the single run produced views');
  assert.equal(await storedTotal(singleStore, partitions), total);
  assert.deepEqual(await viewSnapshot(sharedStore), expected);
});
