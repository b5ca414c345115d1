/* global document, window */
// The live dashboard of the chapter's e-commerce example: plain browser JavaScript, no framework,
// no build step, nothing loaded from elsewhere. It polls the serving layer's JSON API every 2 s
// and redraws; charts are hand-written SVG. Every figure shown is one the API answered: the page
// only picks the range to ask for (the last 30 minutes of the server's clock), selects rows and
// formats them. The one derived figure, late events per minute, is the change of the API's
// late-event counts between polls, and says so.

const POLL_MS = 2000;
const MINUTE = 60_000;
const SPAN_MS = 30 * MINUTE;
/** The error-rate panel shows at most this many products (alerting ones always). */
const MAX_PRODUCTS = 12;
const MAX_LOGIN_ALERTS = 8;
/** Late events per minute are measured over about this much polling. */
const RATE_WINDOW_MS = MINUTE;
const SVG = 'http://www.w3.org/2000/svg';

/** Late-event totals per view from recent polls: [{ time, totals: { view: n } }], oldest first. */
const lateSamples = [];
/** The views' definitions from /v1/views (alert rules), fetched once. */
let definitions = null;

// ---------------------------------------------------------------------------------------------
// DOM helpers: everything is built with createElement and textContent, never from HTML strings.

const $ = (id) => document.getElementById(id);

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  setAttrs(node, attrs);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function setAttrs(node, attrs) {
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined && v !== false) node.setAttribute(k, String(v));
}

const title = (text) => s('title', {}, text);

function fillTable(id, rows, emptyText, columns) {
  const body = $(id).tBodies[0];
  body.replaceChildren(...(rows.length > 0 ? rows : [h('tr', {}, h('td', { class: 'none', colspan: columns }, emptyText))]));
}

// ---------------------------------------------------------------------------------------------
// Formatting

const hhmm = (t) => new Date(t).toISOString().slice(11, 16);
const hhmmss = (t) => new Date(t).toISOString().slice(11, 19);
const time = (t) => (t === null || t === undefined ? '–' : `${hhmmss(t)} UTC`);
const windowText = (r) => `${hhmm(r.window_start)}–${hhmm(r.window_end)}`;
const count = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'));
const percent = (x) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)} %`);

/** Integer cents as currency units; decimal strings (beyond 2^53) exactly. */
function money(cents) {
  if (typeof cents === 'string') {
    const neg = cents.startsWith('-');
    const digits = (neg ? cents.slice(1) : cents).padStart(3, '0');
    const units = BigInt(digits.slice(0, -2)).toLocaleString('en-US');
    return `${neg ? '-' : ''}${units}.${digits.slice(-2)}`;
  }
  return (cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

const sourceTag = (source) => h('span', { class: `tag ${source}` }, source);

// ---------------------------------------------------------------------------------------------
// API

async function getJson(url) {
  const res = await window.fetch(url, { headers: { accept: 'application/json' }, cache: 'no-store' });
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: reported below by status
  }
  if (!res.ok) throw new Error(`${url}: ${body && body.message ? body.message : `HTTP ${res.status}`}`);
  return body;
}

// ---------------------------------------------------------------------------------------------
// Charts

/** A nice upper bound for an axis: 1, 2 or 5 times a power of ten, at least `max`. */
function niceCeil(max) {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= max);
}

/**
 * Bars per window of a series view's answer, coloured by the layer that served each, with the
 * batch high-water mark and the speed watermark of the answer drawn as vertical lines.
 */
function barChart(svg, answer, column, format) {
  const [width, height] = svg.getAttribute('viewBox').split(' ').slice(2).map(Number);
  const m = { left: 64, right: 16, top: 22, bottom: 24 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const { from, to } = answer;
  const x = (t) => m.left + ((t - from) / (to - from)) * plotW;
  const values = answer.rows.map((r) => Number(r[column] ?? 0));
  const top = niceCeil(Math.max(0, ...values));
  const y = (v) => m.top + plotH - (v / top) * plotH;
  const nodes = [];

  for (const v of [0, top / 2, top]) {
    nodes.push(s('line', { class: 'grid', x1: m.left, x2: width - m.right, y1: y(v), y2: y(v) }));
    nodes.push(s('text', { x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, format(v)));
  }
  for (let t = Math.ceil(from / (5 * MINUTE)) * 5 * MINUTE; t <= to; t += 5 * MINUTE) {
    nodes.push(s('line', { class: 'axis', x1: x(t), x2: x(t), y1: m.top + plotH, y2: m.top + plotH + 4 }));
    nodes.push(s('text', { x: x(t), y: height - 6, 'text-anchor': 'middle' }, hhmm(t)));
  }
  nodes.push(s('line', { class: 'axis', x1: m.left, x2: width - m.right, y1: m.top + plotH, y2: m.top + plotH }));

  answer.rows.forEach((r, i) => {
    const x0 = x(r.window_start);
    const x1 = x(r.window_end);
    const v = values[i];
    const barTop = y(v);
    nodes.push(
      s(
        'rect',
        {
          class: `bar ${r.source}`,
          x: x0 + 1,
          width: Math.max(1, x1 - x0 - 2),
          y: barTop,
          height: Math.max(0, m.top + plotH - barTop),
          'data-source': r.source,
          'data-window-start': r.window_start,
          'data-value': r[column],
        },
        title(`${windowText(r)} UTC: ${format(r[column])} (${r.source} layer)`),
      ),
    );
  });

  const hwm = answer.highWaterMark;
  if (hwm !== null && hwm >= from && hwm <= to) {
    nodes.push(s('line', { class: 'hwm-line', x1: x(hwm), x2: x(hwm), y1: m.top - 6, y2: m.top + plotH, 'data-hwm': hwm }, title(`batch high-water mark ${time(hwm)}`)));
    const anchor = x(hwm) < m.left + 140 ? 'start' : x(hwm) > width - m.right - 140 ? 'end' : 'middle';
    nodes.push(s('text', { class: 'hwm-label', x: x(hwm), y: m.top - 9, 'text-anchor': anchor }, `batch ◂ high-water mark ${hhmm(hwm)} ▸ speed`));
  } else {
    const text = hwm === null ? 'no batch run yet: every window from the speed layer' : hwm < from ? `batch high-water mark ${time(hwm)}, before this range: every window from the speed layer` : `batch high-water mark ${time(hwm)}`;
    nodes.push(s('text', { class: 'hwm-label', x: m.left, y: m.top - 9, 'data-hwm': hwm ?? '' }, text));
  }
  const wm = answer.speedWatermark;
  if (wm !== null && wm >= from && wm <= to) {
    nodes.push(s('line', { class: 'wm-line', x1: x(wm), x2: x(wm), y1: m.top, y2: m.top + plotH, 'data-watermark': wm }, title(`speed watermark ${time(wm)}`)));
    nodes.push(s('text', { class: 'wm-label', x: Math.min(x(wm) + 4, width - m.right), y: m.top + 10, 'text-anchor': x(wm) > width - 110 ? 'end' : 'start' }, 'watermark'));
  }
  if (answer.rows.length === 0) nodes.push(s('text', { class: 'empty', x: m.left + plotW / 2, y: m.top + plotH / 2, 'text-anchor': 'middle' }, 'no windows in this range'));
  svg.replaceChildren(...nodes);
}

/** How many windows each layer served: from the rows' `source`. */
function servedText(answer) {
  const n = { batch: 0, speed: 0 };
  for (const r of answer.rows) n[r.source] = (n[r.source] ?? 0) + 1;
  return `${n.batch} windows from the batch layer (run ${answer.batchRunId ?? 'none yet'}), ${n.speed} from the speed layer`;
}

function renderRevenue(answer) {
  barChart($('revenue-chart'), answer, 'revenue_cents', money);
  const late = answer.lateEvents ? `; late events in these windows: ${count(answer.lateEvents.inRange)} (policy ${definitionOf('revenue_per_minute')?.latePolicy ?? '?'})` : '';
  $('revenue-caption').textContent = `${servedText(answer)}${late}. Bars are revenue in currency units (cents / 100).`;
}

function renderActiveUsers(answer) {
  barChart($('active-users-chart'), answer, 'active_users', (v) => count(v));
  $('active-users-caption').textContent = `${servedText(answer)}.`;
}

// ---------------------------------------------------------------------------------------------
// Error rate, alerts

const definitionOf = (name) => (definitions ? definitions.find((v) => v.name === name) : undefined);

/** The alert rule of a view, as its definition states it: "error_rate > 0.05 and views >= 20". */
function ruleText(name) {
  const def = definitionOf(name);
  if (!def || !def.alert) return '';
  const ops = { gt: '>', gte: '≥', lt: '<', lte: '≤' };
  return `alert when ${def.alert.when.map((c) => `${c.metric} ${ops[c.op] ?? c.op} ${c.value}`).join(' and ')}`;
}

function thresholdOf(name, metric) {
  const def = definitionOf(name);
  const c = def && def.alert ? def.alert.when.find((w) => w.metric === metric && (w.op === 'gt' || w.op === 'gte')) : undefined;
  return c ? c.value : null;
}

/** Open alerts of one view, per key: the latest alerting window and how many windows alert. */
function alertsByKey(alerts, view, key) {
  const out = new Map();
  for (const a of alerts) {
    if (a.view !== view) continue;
    const k = a[key];
    const seen = out.get(k);
    if (!seen) out.set(k, { latest: a, windows: 1 });
    else {
      seen.windows++;
      if (a.window_start > seen.latest.window_start) seen.latest = a;
    }
  }
  return [...out.entries()].sort((a, b) => b[1].latest.window_start - a[1].latest.window_start || String(a[0]).localeCompare(String(b[0])));
}

function renderErrorRate(answer, alerts) {
  // Each alerting product's latest alerting window, which need not be its latest window.
  const alerting = new Map(alertsByKey(alerts, 'error_rate_by_product', 'product_id').map(([product, { latest }]) => [product, latest]));
  // The latest window of each product in the answer.
  const latest = new Map();
  for (const r of answer.rows) {
    const seen = latest.get(r.product_id);
    if (!seen || r.window_start > seen.window_start) latest.set(r.product_id, r);
  }
  const rate = (r) => (r.error_rate === null ? -1 : r.error_rate);
  const all = [...latest.values()].sort((a, b) => Number(alerting.has(b.product_id)) - Number(alerting.has(a.product_id)) || rate(b) - rate(a) || a.product_id.localeCompare(b.product_id));
  // Alerting products always; the others by error rate, up to the limit.
  const shown = all.filter((r, i) => alerting.has(r.product_id) || i < MAX_PRODUCTS);
  const svg = $('error-rate-chart');
  const rowH = 22;
  const m = { left: 96, right: 250, top: 16, bottom: 8 };
  const width = 580;
  const height = m.top + m.bottom + Math.max(1, shown.length) * rowH;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const threshold = thresholdOf('error_rate_by_product', 'error_rate');
  const top = niceCeil(Math.max(threshold ? threshold * 2 : 0.1, ...shown.map((r) => r.error_rate ?? 0)));
  const plotW = width - m.left - m.right;
  const x = (v) => m.left + (v / top) * plotW;
  const nodes = [s('text', { x: m.left, y: 11 }, '0'), s('text', { x: m.left + plotW, y: 11, 'text-anchor': 'end' }, percent(top))];
  shown.forEach((r, i) => {
    const y0 = m.top + i * rowH;
    const isAlert = alerting.has(r.product_id);
    nodes.push(
      s(
        'g',
        { 'data-product': r.product_id, 'data-alert': String(isAlert), 'data-error-rate': r.error_rate ?? '', 'data-source': r.source },
        title(`${r.product_id}, window ${windowText(r)} UTC: ${count(r.errors)} errors / ${count(r.views)} page views (${r.source} layer)${isAlert ? '; open alert' : ''}`),
        s('text', { x: m.left - 6, y: y0 + 15, 'text-anchor': 'end' }, r.product_id),
        s('rect', { class: 'track', x: m.left, y: y0 + 4, width: plotW, height: rowH - 8 }),
        s('rect', { class: 'rate', x: m.left, y: y0 + 4, width: Math.max(0, x(Math.min(r.error_rate ?? 0, top)) - m.left), height: rowH - 8 }),
        s('text', { x: m.left + plotW + 6, y: y0 + 15 }, `${percent(r.error_rate)} (${count(r.errors)}/${count(r.views)})${isAlert ? ` · alert ${windowText(alerting.get(r.product_id))}` : ''}`),
      ),
    );
  });
  if (threshold !== null && threshold <= top) {
    nodes.push(s('line', { class: 'threshold', x1: x(threshold), x2: x(threshold), y1: m.top, y2: height - m.bottom }, title(`alert threshold ${percent(threshold)}`)));
  }
  if (shown.length === 0) nodes.push(s('text', { class: 'empty', x: width / 2, y: m.top + 14, 'text-anchor': 'middle' }, 'no page views or errors in this range'));
  svg.replaceChildren(...nodes);
  const hidden = all.length - shown.length;
  const windowEnd = shown.length > 0 ? ` (latest window ends ${hhmm(Math.max(...shown.map((r) => r.window_end)))} UTC)` : '';
  $('error-rate-caption').textContent = `${shown.length} of ${all.length} products${hidden > 0 ? ', highest error rate first' : ''}${windowEnd}; red: an open alert, in the window named; dashed line: the alert threshold.`;
}

function renderAlerts(answer) {
  const alerts = answer.alerts;
  const ranges = answer.views.filter((v) => v.from !== undefined);
  $('alerts-range').textContent = ranges.length > 0 ? `looked for in ${hhmm(Math.min(...ranges.map((v) => v.from)))}–${hhmm(Math.max(...ranges.map((v) => v.to)))} UTC of event time` : 'no events seen yet';
  $('error-rule').textContent = ruleText('error_rate_by_product');
  $('login-rule').textContent = ruleText('failed_logins_by_user');

  const errors = alertsByKey(alerts, 'error_rate_by_product', 'product_id').map(([product, { latest, windows }]) =>
    h(
      'tr',
      { class: 'alert', 'data-alert-product': product },
      h('td', {}, product),
      h('td', {}, `${windowText(latest)} UTC`),
      h('td', { class: 'num' }, percent(latest.error_rate)),
      h('td', { class: 'num' }, `${count(latest.errors)} / ${count(latest.views)}`),
      h('td', { class: 'num' }, String(windows)),
      h('td', {}, sourceTag(latest.source)),
    ),
  );
  fillTable('error-alerts', errors, 'none open', 6);

  const logins = alertsByKey(alerts, 'failed_logins_by_user', 'user_id');
  const rows = logins.slice(0, MAX_LOGIN_ALERTS).map(([user, { latest, windows }]) =>
    h(
      'tr',
      { class: 'alert', 'data-alert-user': user },
      h('td', {}, user),
      h('td', {}, `${windowText(latest)} UTC`),
      h('td', { class: 'num' }, count(latest.failed_logins)),
      h('td', { class: 'num' }, String(windows)),
      h('td', {}, sourceTag(latest.source)),
    ),
  );
  if (logins.length > MAX_LOGIN_ALERTS) rows.push(h('tr', {}, h('td', { class: 'none', colspan: 5 }, `and ${logins.length - MAX_LOGIN_ALERTS} more users`)));
  fillTable('login-alerts', rows, 'none open', 5);
}

// ---------------------------------------------------------------------------------------------
// Status and drift

const lateTotal = (lateEvents) => (lateEvents ? Object.values(lateEvents).reduce((a, b) => a + b, 0) : null);

/** Late events per minute per view, over the samples of about the last minute. */
function lateRates(status) {
  lateSamples.push({ time: status.time, totals: Object.fromEntries(status.views.map((v) => [v.view, lateTotal(v.lateEvents)])) });
  while (lateSamples.length > 2 && status.time - lateSamples[1].time >= RATE_WINDOW_MS) lateSamples.shift();
  const first = lateSamples[0];
  const dt = status.time - first.time;
  const rates = new Map();
  for (const v of status.views) {
    const now = lateTotal(v.lateEvents);
    const then = first.totals[v.view];
    // A total that went down is a restarted speed state: no rate until it grows again.
    rates.set(v.view, dt > 0 && now !== null && then !== null && then !== undefined && now >= then ? ((now - then) / dt) * MINUTE : null);
  }
  return rates;
}

function renderStatus(status) {
  const lag = $('consumer-lag');
  lag.textContent = status.consumerLag === null ? 'unknown' : count(status.consumerLag);
  lag.dataset.value = status.consumerLag ?? '';
  lag.classList.toggle('behind', Number(status.consumerLag) > 0);
  const hwm = $('batch-hwm');
  hwm.textContent = time(status.batch.highWaterMark);
  hwm.dataset.value = status.batch.highWaterMark ?? '';
  $('batch-run').textContent = status.batch.runId ? `run ${status.batch.runId}` : 'no batch run yet';

  const rates = lateRates(status);
  const rows = status.views.map((v) => {
    const rate = rates.get(v.view);
    const byPolicy = v.lateEvents ? Object.entries(v.lateEvents).map(([policy, n]) => `${count(n)} ${policy}`).join(', ') || '0' : '–';
    return h(
      'tr',
      { 'data-view': v.view },
      h('td', {}, v.view),
      h('td', {}, v.latePolicy),
      h('td', { 'data-value': v.speedWatermark ?? '' }, time(v.speedWatermark)),
      h('td', {}, time(v.highWaterMark)),
      h('td', { class: 'num', 'data-value': lateTotal(v.lateEvents) ?? '' }, byPolicy),
      h('td', { class: 'num' }, rate === null || rate === undefined ? '…' : rate.toFixed(1)),
    );
  });
  fillTable('status-table', rows, 'no views', 6);
}

function largestText(report) {
  const d = report.largest;
  if (!d) return report.rowsDiffering > 0 ? 'rows differ (no numeric column)' : 'none';
  const key = d.key === null ? '' : ` ${d.key}`;
  return `${d.column} at ${hhmm(d.window_start)}${key}: batch ${count(d.batch)} vs speed ${count(d.speed)} (${percent(d.relative)})`;
}

function renderDrift(answer) {
  const rows = answer.drift.map((r) =>
    h(
      'tr',
      { 'data-view': r.view, class: r.windowsDiffering > 0 ? 'alert' : null },
      h('td', {}, r.view),
      h('td', {}, r.latePolicy),
      h('td', { class: 'num' }, count(r.windowsCompared)),
      h('td', { class: 'num' }, h('span', { class: `tag ${r.windowsDiffering > 0 ? 'bad' : 'good'}` }, count(r.windowsDiffering))),
      h('td', { class: 'num' }, count(r.rowsDiffering)),
      h('td', {}, largestText(r)),
      h('td', { class: 'num' }, count(r.lateDropped)),
    ),
  );
  fillTable('drift-table', rows, 'no views', 7);
}

// ---------------------------------------------------------------------------------------------
// The poll

async function tick() {
  if (!definitions) definitions = (await getJson('/v1/views')).views;
  const status = await getJson('/v1/status');
  // The last 30 minutes of the server's clock, up to the end of the minute in progress.
  const to = Math.ceil(status.time / MINUTE) * MINUTE;
  const range = `from=${to - SPAN_MS}&to=${to}`;
  const [revenue, users, errorRate, alerts, drift] = await Promise.allSettled([
    getJson(`/v1/views/revenue_per_minute?${range}`),
    getJson(`/v1/views/active_users?${range}`),
    getJson(`/v1/views/error_rate_by_product?${range}`),
    getJson('/v1/alerts'),
    getJson('/v1/drift'),
  ]);
  const problems = [...status.errors];
  const render = (result, draw) => {
    if (result.status === 'rejected') problems.push(result.reason.message);
    else draw(result.value);
  };
  renderStatus(status);
  render(revenue, renderRevenue);
  render(users, renderActiveUsers);
  render(alerts, renderAlerts);
  if (errorRate.status === 'fulfilled') renderErrorRate(errorRate.value, alerts.status === 'fulfilled' ? alerts.value.alerts : []);
  else problems.push(errorRate.reason.message);
  render(drift, renderDrift);
  showProblems(problems);
  const updated = $('last-updated');
  updated.textContent = time(status.time);
  updated.dataset.time = status.time;
}

function showProblems(problems) {
  const box = $('errors');
  box.hidden = problems.length === 0;
  box.replaceChildren(...problems.map((p) => h('div', {}, p)));
}

async function poll() {
  try {
    await tick();
  } catch (err) {
    showProblems([`the API did not answer: ${err.message}; retrying`]);
  } finally {
    window.setTimeout(poll, POLL_MS);
  }
}

void poll();
