import { Counter, Gauge } from 'prom-client';
import { registry } from '@lambda/shared';

/** The speed layer's metrics, on the process's shared registry. */

export const speedEvents = new Counter({
  name: 'lambda_speed_events_total',
  help: 'Records consumed by the speed layer, by outcome (applied, duplicate, invalid); rate() gives events/s.',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const speedLag = new Gauge({
  name: 'lambda_speed_consumer_lag',
  help: 'Records in the events topic not yet processed by the speed layer, per partition.',
  labelNames: ['partition'] as const,
  registers: [registry],
});

export const speedWatermark = new Gauge({
  name: 'lambda_speed_watermark_ms',
  help: "The speed layer's watermark per view (epoch ms): min over active partitions of max event time minus the view's lag.",
  labelNames: ['view'] as const,
  registers: [registry],
});

export const speedLate = new Counter({
  name: 'lambda_speed_late_events_total',
  help: 'Late events per view and policy (drop, update, side-output).',
  labelNames: ['view', 'policy'] as const,
  registers: [registry],
});

export const speedDeadLetters = new Gauge({
  name: 'lambda_dead_letter_topic_records',
  help: 'Records in the dead-letter topic (events.dlq), all partitions.',
  registers: [registry],
});

export const speedStateSize = new Gauge({
  name: 'lambda_speed_state_entries',
  help: 'Keys plus hash fields and set members held by the speed state store.',
  registers: [registry],
});

export const speedBatches = new Counter({
  name: 'lambda_speed_batches_total',
  help: 'Batches committed to the state store, by result (applied, already_applied).',
  labelNames: ['result'] as const,
  registers: [registry],
});
