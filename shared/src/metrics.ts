import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process: every layer registers here and `GET /metrics` exposes it. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

export const ingestedEvents = new Counter({
  name: 'lambda_ingested_events_total',
  help: 'Events received at the edge, by result (accepted, rejected) and source.',
  labelNames: ['result', 'source'] as const,
  registers: [registry],
});

export const deadLetters = new Counter({
  name: 'lambda_dead_letter_events_total',
  help: 'Events sent to the dead-letter topic, by the component that rejected them and the field at fault.',
  labelNames: ['component', 'field'] as const,
  registers: [registry],
});
