import { parseView, type ViewDefinition, type ViewDefinitionInput } from './definition.ts';

/**
 * The chapter's e-commerce dashboard, as data. Adding a view is adding one definition to the list.
 */

export interface WorkloadViewSettings {
  /** error_rate_by_product alerts only when the window holds at least this many page views. */
  errorRateMinViews: number;
  /** error_rate_by_product alerts when errors / views exceeds this. */
  errorRateThreshold: number;
  /** failed_logins_by_user alerts when a user's failures in the window exceed this. */
  failedLoginsThreshold: number;
}

export const DEFAULT_WORKLOAD_SETTINGS: WorkloadViewSettings = {
  errorRateMinViews: 20,
  errorRateThreshold: 0.05,
  failedLoginsThreshold: 5,
};

const MINUTE = 60_000;
const SESSION_GAP = 5 * MINUTE;
// Browsing activity is what makes a user active (the chapter's click/view events).
const ACTIVITY = ['page_view', 'click'] as const;

export function workloadViewInputs(settings: Partial<WorkloadViewSettings> = {}): ViewDefinitionInput[] {
  const s = { ...DEFAULT_WORKLOAD_SETTINGS, ...settings };
  return [
    {
      name: 'revenue_per_minute',
      description: 'Revenue (integer cents) and purchase count per minute.',
      input: { types: ['purchase'] },
      key: null,
      window: { kind: 'tumbling', sizeMs: MINUTE },
      timeDomain: 'event',
      watermarkLagMs: 30_000,
      allowedLatenessMs: 0,
      latePolicy: 'drop',
      aggregates: [
        { name: 'revenue_cents', fn: 'sum', column: 'amount_cents' },
        { name: 'purchases', fn: 'count' },
      ],
      output: { kind: 'series' },
    },
    {
      // A user counts in the minute window [m, m + 60 s) when one of their sessions
      // [first, last + 5 min) overlaps it: first < m + 60 s and last + 5 min > m.
      name: 'active_users',
      description: 'Users with an open session (5 min inactivity gap) per minute.',
      input: { types: [...ACTIVITY] },
      key: 'user_id',
      window: { kind: 'session', gapMs: SESSION_GAP },
      timeDomain: 'event',
      watermarkLagMs: 30_000,
      allowedLatenessMs: 0,
      latePolicy: 'update',
      output: { kind: 'open_sessions', sizeMs: MINUTE, column: 'active_users' },
    },
    {
      name: 'sessions',
      description: 'Per-user sessions (5 min inactivity gap): span, events, duration from first to last event.',
      input: { types: [...ACTIVITY] },
      key: 'user_id',
      window: { kind: 'session', gapMs: SESSION_GAP },
      timeDomain: 'event',
      watermarkLagMs: 30_000,
      allowedLatenessMs: 0,
      latePolicy: 'update',
      aggregates: [{ name: 'events', fn: 'count' }],
      output: { kind: 'sessions' },
    },
    {
      name: 'error_rate_by_product',
      description: 'Page views, errors and error rate per product over 5 minutes, every minute; alerts on a high rate.',
      input: { types: ['page_view', 'error'], filter: [{ column: 'product_id', op: 'not_null' }] },
      key: 'product_id',
      window: { kind: 'sliding', sizeMs: 5 * MINUTE, slideMs: MINUTE },
      timeDomain: 'event',
      watermarkLagMs: 10_000,
      allowedLatenessMs: 0,
      latePolicy: 'update',
      aggregates: [
        { name: 'views', fn: 'count', where: [{ column: 'type', op: 'eq', value: 'page_view' }] },
        { name: 'errors', fn: 'count', where: [{ column: 'type', op: 'eq', value: 'error' }] },
      ],
      derived: [{ name: 'error_rate', numerator: 'errors', denominator: 'views' }],
      alert: {
        when: [
          { metric: 'error_rate', op: 'gt', value: s.errorRateThreshold },
          { metric: 'views', op: 'gte', value: s.errorRateMinViews },
        ],
      },
      output: { kind: 'series' },
    },
    {
      name: 'failed_logins_by_user',
      description: 'Failed logins per user over 10 minutes, every minute; alerts above the threshold.',
      input: { types: ['login_failed'] },
      key: 'user_id',
      window: { kind: 'sliding', sizeMs: 10 * MINUTE, slideMs: MINUTE },
      timeDomain: 'event',
      watermarkLagMs: 10_000,
      allowedLatenessMs: 0,
      latePolicy: 'update',
      aggregates: [{ name: 'failed_logins', fn: 'count' }],
      alert: { when: [{ metric: 'failed_logins', op: 'gt', value: s.failedLoginsThreshold }] },
      output: { kind: 'series' },
    },
  ];
}

/** The workload's views, validated; view names are unique. */
export function workloadViews(settings: Partial<WorkloadViewSettings> = {}): ViewDefinition[] {
  return viewRegistry(workloadViewInputs(settings));
}

/** Validates a list of definitions as one registry: each valid, names unique. */
export function viewRegistry(inputs: unknown[]): ViewDefinition[] {
  const views = inputs.map(parseView);
  const names = views.map((v) => v.name);
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) throw new Error(`view names must be unique: ${[...new Set(twice)].join(', ')}`);
  return views;
}

export const VIEWS: readonly ViewDefinition[] = workloadViews();

export function findView(name: string, views: readonly ViewDefinition[] = VIEWS): ViewDefinition {
  const v = views.find((x) => x.name === name);
  if (!v) throw new Error(`unknown view "${name}"; known views: ${views.map((x) => x.name).join(', ')}`);
  return v;
}
