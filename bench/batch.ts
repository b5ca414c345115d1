// `npm run bench -- batch [--events N]`: `lambda batch run` over all views on an archive of N
// generated events, against the raw DuckDB aggregate queries over the same files (one plain
// GROUP BY per view: no dedupe, no sliding-window expansion, no versions), measured in the same
// run. Both write their results as Parquet, from a fresh in-memory DuckDB with the same threads.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { VIEWS } from '@lambda/shared';
import { createArchiveView, readArchiveSnapshot, runBatch } from '@lambda/batch-layer';
import { buildSyntheticArchive } from '@lambda/batch-layer/batch/synthetic-archive';

const { values } = parseArgs({ options: { events: { type: 'string', default: '10000000' } } });
const events = Number(values.events);
if (!Number.isSafeInteger(events) || events <= 0) throw new Error('--events must be a positive integer');

const threads = os.availableParallelism();
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bench-batch-'));
const minute = (col = 'event_time') => `epoch_ms(${col}) // 60000`;
const RAW: Record<string, string> = {
  revenue_per_minute: `SELECT ${minute()} AS m, sum(amount_cents) AS revenue, count(*) AS n FROM archive_events WHERE type = 'purchase' GROUP BY m`,
  active_users: `SELECT ${minute()} AS m, count(DISTINCT user_id) AS users FROM archive_events WHERE type IN ('page_view', 'click') GROUP BY m`,
  // A GROUP BY alone cannot find sessions: the least a sessionization needs is one lag and one running sum.
  sessions: `SELECT user_id, s, min(t), max(t), count(*) FROM (
      SELECT user_id, t, sum(CASE WHEN t - prev > 300000 OR prev IS NULL THEN 1 ELSE 0 END) OVER (PARTITION BY user_id ORDER BY t) AS s
      FROM (SELECT user_id, epoch_ms(event_time) AS t, lag(epoch_ms(event_time)) OVER (PARTITION BY user_id ORDER BY event_time) AS prev
            FROM archive_events WHERE type IN ('page_view', 'click'))) GROUP BY ALL`,
  error_rate_by_product: `SELECT product_id, ${minute()} AS m, count(*) FILTER (WHERE type = 'page_view') AS views, count(*) FILTER (WHERE type = 'error') AS errors
      FROM archive_events WHERE type IN ('page_view', 'error') AND product_id IS NOT NULL GROUP BY ALL`,
  failed_logins_by_user: `SELECT user_id, ${minute()} AS m, count(*) AS n FROM archive_events WHERE type = 'login_failed' GROUP BY ALL`,
};

try {
  const built = await buildArchive();
  const batchSeconds = await timeBatch();
  const rawSeconds = await timeRaw();
  const ratio = batchSeconds / rawSeconds;
  const viewEventsPerSecond = Math.round((events * VIEWS.length) / batchSeconds);
  const eventsPerSecond = Math.round(events / batchSeconds);
  console.error(
    `batch bench: ${events} events in ${built.files} files (built in ${built.seconds.toFixed(1)} s); ` +
      `batch run ${batchSeconds.toFixed(2)} s = ${eventsPerSecond} events/s (${viewEventsPerSecond} view-events/s over ${VIEWS.length} views); ` +
      `raw queries ${rawSeconds.toFixed(2)} s; ratio ${ratio.toFixed(2)} (goal <= 1.5)`,
  );
  console.log(
    JSON.stringify({
      bench: 'batch',
      events,
      views: VIEWS.length,
      files: built.files,
      batchSeconds: round(batchSeconds),
      rawSeconds: round(rawSeconds),
      ratio: round(ratio),
      ratioGoal: 1.5,
      eventsPerSecond,
      viewEventsPerSecond,
      viewEventsPerSecondGoal: 5_000_000,
      eventsPerSecondNote: 'eventsPerSecond = events / batch seconds; viewEventsPerSecond = events * views / batch seconds (the goal is stated over all views)',
      threads,
      machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
      date: new Date().toISOString(),
    }),
  );
} finally {
  await rm(dataDir, { recursive: true, force: true });
}

async function buildArchive(): Promise<{ files: number; seconds: number }> {
  const started = performance.now();
  const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const conn = await instance.connect();
  try {
    const { files } = await buildSyntheticArchive(conn, dataDir, { events, start: Date.UTC(2024, 4, 1) });
    return { files, seconds: (performance.now() - started) / 1000 };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

async function timeBatch(): Promise<number> {
  const started = performance.now();
  await runBatch({ dataDir, threads, onProgress: (l) => process.stderr.write(`batch: ${l}\n`) });
  return (performance.now() - started) / 1000;
}

async function timeRaw(): Promise<number> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'bench-batch-raw-'));
  const started = performance.now();
  const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const conn = await instance.connect();
  try {
    await createArchiveView(conn, await readArchiveSnapshot(dataDir), 'archive_events');
    for (const [name, sql] of Object.entries(RAW)) {
      const t = performance.now();
      await conn.run(`COPY (${sql}) TO '${path.join(out, `${name}.parquet`)}' (FORMAT parquet, COMPRESSION zstd)`);
      process.stderr.write(`raw: ${name}: ${((performance.now() - t) / 1000).toFixed(2)} s\n`);
    }
    return (performance.now() - started) / 1000;
  } finally {
    conn.closeSync();
    instance.closeSync();
    await rm(out, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
