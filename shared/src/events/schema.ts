import { z } from 'zod';

/**
 * The event model of the chapter's e-commerce workload. Validation happens once, at the edge
 * (HTTP ingest, file ingest, the generator, and any consumer reading a topic that foreign producers
 * may write to); inside the platform an `Event` is trusted.
 */

export const EVENT_TYPES = [
  'page_view',
  'purchase',
  'error',
  'click',
  'impression',
  'login_failed',
  'profile_update',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Oversized events are rejected: one event is a fact, not a payload carrier. */
export const MAX_EVENT_BYTES = 16 * 1024;

const id = z.string().min(1).max(128);
const optionalId = id.optional();

/**
 * `event_time` is accepted as epoch milliseconds or as an ISO-8601 string with an explicit zone, and
 * normalised to epoch milliseconds (UTC). A string without a zone is ambiguous and rejected rather
 * than guessed.
 */
const eventTime = z.union([
  z.number().int().nonnegative().max(8.64e15),
  z.iso.datetime({ offset: true, local: false }).transform((s) => Date.parse(s)),
]);

const base = {
  event_id: id,
  event_time: eventTime,
  user_id: id,
};

export const pageViewSchema = z.strictObject({
  ...base,
  type: z.literal('page_view'),
  product_id: optionalId,
});
export const purchaseSchema = z.strictObject({
  ...base,
  type: z.literal('purchase'),
  product_id: id,
  // Money is integer minor units: floating-point sums would create drift that is not real.
  amount_cents: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
});
export const errorSchema = z.strictObject({
  ...base,
  type: z.literal('error'),
  product_id: optionalId,
  error_code: z.string().min(1).max(64).optional(),
});
export const clickSchema = z.strictObject({
  ...base,
  type: z.literal('click'),
  product_id: optionalId,
  ad_id: optionalId,
});
export const impressionSchema = z.strictObject({
  ...base,
  type: z.literal('impression'),
  ad_id: id,
  product_id: optionalId,
});
export const loginFailedSchema = z.strictObject({
  ...base,
  type: z.literal('login_failed'),
});
export const profileUpdateSchema = z.strictObject({
  ...base,
  type: z.literal('profile_update'),
  tier: z.enum(['free', 'silver', 'gold', 'platinum']).optional(),
  country: z
    .string()
    .regex(/^[A-Z]{2}$/, 'expected an ISO 3166-1 alpha-2 code such as "DE"')
    .optional(),
});

export const eventSchema = z.discriminatedUnion('type', [
  pageViewSchema,
  purchaseSchema,
  errorSchema,
  clickSchema,
  impressionSchema,
  loginFailedSchema,
  profileUpdateSchema,
]);

/** A validated event, with `event_time` normalised to epoch milliseconds (UTC). */
export type Event = z.output<typeof eventSchema>;
/** What a producer may send. */
export type EventInput = z.input<typeof eventSchema>;

/** Every column the archive and the views may use; absent fields are null. */
export interface EventColumns {
  event_id: string;
  type: EventType;
  event_time: number;
  user_id: string;
  product_id: string | null;
  ad_id: string | null;
  amount_cents: number | null;
  tier: string | null;
  country: string | null;
  error_code: string | null;
}

export function toColumns(e: Event): EventColumns {
  const r = e as Partial<Record<keyof EventColumns, unknown>>;
  return {
    event_id: e.event_id,
    type: e.type,
    event_time: e.event_time,
    user_id: e.user_id,
    product_id: (r.product_id as string | undefined) ?? null,
    ad_id: (r.ad_id as string | undefined) ?? null,
    amount_cents: (r.amount_cents as number | undefined) ?? null,
    tier: (r.tier as string | undefined) ?? null,
    country: (r.country as string | undefined) ?? null,
    error_code: (r.error_code as string | undefined) ?? null,
  };
}
