import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import {
  DEFAULT_TOPICS,
  MemoryStateStore,
  WORKLOAD_DEFAULTS,
  Workload,
  createLogger,
  ingestEvents,
  itemRaw,
  loadConfig,
  type EventLog,
  type WorkloadItem,
} from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import { runBatch, startArchiver } from '@lambda/batch-layer';
import { startSpeedLayer } from '@lambda/speed-layer';
import { buildApp } from '@lambda/serving-layer';
import { adminActions, batchSource, speedSource } from './sources.ts';

/**
 * The dashboard at `/` in a real browser (Debian's chromium driven by playwright-core; no browser
 * download) against the platform composed in-process as `lambda up` composes it: a workload over
 * the last 40 minutes of wall-clock time with an error spike on one product, its first part
 * archived and recomputed by the batch layer, all of it processed by the speed layer. The page
 * must show bars from both layers, the high-water mark, the alert of the spiking product, and
 * follow new events without a reload. The screenshot goes to test-output/dashboard.png.
 */

const CHROMIUM = '/usr/bin/chromium';
const MINUTE = 60_000;
const IDLE_MS = 3_600_000;
const SPIKING = 'product-0';
const SCREENSHOT = fileURLToPath(new URL('../test-output/dashboard.png', import.meta.url));
const WAIT = { timeout: 30_000 };

async function ingest(log: EventLog, items: WorkloadItem[], maxFutureSkewMs: number): Promise<number> {
  return (await ingestEvents(log, items.map(itemRaw), { source: 'test', maxFutureSkewMs })).accepted;
}

const text = (page: Page, selector: string) => page.locator(selector).first().getAttribute('data-value');

test('the dashboard shows both layers, the high-water mark and the open alert, and updates live', { timeout: 180_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.LAMBDA_REQUIRE_SERVICES === '1') assert.fail(`${CHROMIUM} is missing; npm run services:up installs it`);
    t.skip('chromium not installed; npm run services:up installs it');
    return;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dashboard-'));
  const profile = await mkdtemp(path.join(os.tmpdir(), 'dashboard-chromium-'));
  const config = loadConfig({ DATA_DIR: dir });
  const log = await openEventLog(config, { forProducing: true });
  const store = await MemoryStateStore.open({ dir: null });
  let app: ReturnType<typeof buildApp> | null = null;
  let browser: BrowserContext | null = null;
  t.after(async () => {
    await browser?.close();
    await app?.close();
    await store.close();
    await log.close();
    await rm(dir, { recursive: true, force: true });
    await rm(profile, { recursive: true, force: true });
  });
  const speedOnce = async () => (await startSpeedLayer({ log, store, dataDir: dir, once: true, idleTimeoutMs: IDLE_MS })).done;

  // 40 minutes up to now; the error spike lies inside the 15 minutes the alerts are looked for in.
  const now = Date.now();
  const start = Math.floor((now - 40 * MINUTE) / MINUTE) * MINUTE;
  const workload = new Workload({
    ...WORKLOAD_DEFAULTS,
    seed: 11,
    durationMs: now - 15_000 - start,
    rate: 2,
    startTime: start,
    users: 40,
    products: 6,
    lateShare: 0.03,
    lateDelayMs: 90_000,
    errorSpike: { product_id: SPIKING, from: now - 12 * MINUTE, to: now - 3 * MINUTE, errorShare: 0.5 },
  });
  const items = [...workload];
  // The batch layer sees what arrived until 15 minutes ago; the speed layer sees everything.
  const cut = now - 15 * MINUTE;
  await log.ensureTopics(DEFAULT_TOPICS);
  await ingest(log, items.filter((i) => i.emittedAt < cut), config.maxFutureSkewMs);
  await (await startArchiver({ log, dataDir: dir, once: true })).done;
  const { version } = await runBatch({ dataDir: dir, threads: 1 });
  assert.ok(version.highWaterMark !== null && version.highWaterMark > now - 30 * MINUTE && version.highWaterMark < cut, 'the high-water mark lies inside the last 30 minutes');
  await ingest(log, items.filter((i) => i.emittedAt >= cut), config.maxFutureSkewMs);
  await speedOnce();

  app = buildApp({
    config,
    log,
    logger: createLogger('test', 'silent'),
    batch: batchSource(dir),
    speed: speedSource(store, { idleTimeoutMs: IDLE_MS, log }),
    admin: adminActions(dir),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 1000 },
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  const requested: string[] = [];
  const pageErrors: string[] = [];
  page.on('request', (r) => requested.push(r.url()));
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(msg.text());
  });

  const res = await page.goto(`${base}/`);
  assert.equal(res?.status(), 200);
  assert.match(await page.title(), /dashboard/i);
  await page.locator('#last-updated[data-time]:not([data-time=""])').waitFor(WAIT);

  // Revenue per minute: bars from both layers, and the high-water mark between them.
  await page.locator('#revenue-chart rect[data-source="batch"]').first().waitFor(WAIT);
  await page.locator('#revenue-chart rect[data-source="speed"]').first().waitFor(WAIT);
  const bars = await page.locator('#revenue-chart rect[data-source]').evaluateAll((rects) => rects.map((r) => [r.getAttribute('data-source'), Number(r.getAttribute('data-window-start'))] as const));
  assert.ok(bars.length >= 30 && bars.length <= 31, `a bar per minute of the last 30 (${bars.length})`);
  const hwm = version.highWaterMark!;
  for (const [source, windowStart] of bars) assert.equal(source, windowStart + MINUTE <= hwm ? 'batch' : 'speed', `the bar of ${new Date(windowStart).toISOString()}`);
  assert.equal(await page.locator('#revenue-chart .hwm-line').getAttribute('data-hwm'), String(hwm));
  assert.ok((await page.locator('#active-users-chart rect[data-source="speed"]').count()) > 0, 'active users are drawn');

  // The error spike: the product's alert is open, in the chart and in the alert table.
  await page.locator(`#error-alerts tr[data-alert-product="${SPIKING}"]`).waitFor(WAIT);
  assert.equal(await page.locator(`#error-rate-chart g[data-product="${SPIKING}"]`).getAttribute('data-alert'), 'true');

  // Status and drift come from the API.
  assert.equal(await text(page, '#consumer-lag'), '0', 'the speed layer has processed everything');
  assert.equal(await text(page, '#batch-hwm'), String(hwm));
  await page.locator('#drift-table tr[data-view="revenue_per_minute"]').waitFor(WAIT);
  assert.equal(await page.locator('#drift-table tbody tr').count(), 5, 'a drift row per view');

  // Live: new events show as consumer lag, then, once the speed layer ran, as a later watermark;
  // the page is never reloaded.
  await page.evaluate(() => Object.assign(window, { notReloaded: true }));
  const watermarkCell = '#status-table tr[data-view="revenue_per_minute"] td[data-value]';
  const watermarkBefore = await text(page, watermarkCell);
  const updatedBefore = Number(await page.locator('#last-updated').getAttribute('data-time'));
  const more = [...new Workload({ ...WORKLOAD_DEFAULTS, seed: 12, durationMs: 10_000, rate: 5, startTime: Date.now() - 12_000, users: 40, products: 6, errorSpike: null })];
  const added = await ingest(log, more, config.maxFutureSkewMs);
  assert.ok(added > 0);
  await page.waitForFunction((n) => document.getElementById('consumer-lag')?.dataset.value === String(n), added, WAIT);
  await speedOnce();
  await page.waitForFunction(
    ([cell, before]) => document.getElementById('consumer-lag')?.dataset.value === '0' && document.querySelector(cell)?.getAttribute('data-value') !== before,
    [watermarkCell, watermarkBefore] as const,
    WAIT,
  );
  assert.ok(Number(await page.locator('#last-updated').getAttribute('data-time')) > updatedBefore, 'the time of the last update moved');
  assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true, 'updated without a reload');

  await mkdir(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  assert.deepEqual(pageErrors, [], 'no script errors');
  assert.deepEqual(
    requested.filter((u) => !u.startsWith(`${base}/`)),
    [],
    'the page loads nothing from elsewhere',
  );
  assert.equal(await page.locator('#errors').isHidden(), true, 'no API errors shown');
});
