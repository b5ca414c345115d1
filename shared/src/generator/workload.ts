import type { RawEvent } from '../events/ingest.ts';
import { PendingQueue } from './pending.ts';
import { Rng } from './rng.ts';

/**
 * The chapter's e-commerce workload, seeded and deterministic: users browse product pages
 * (page_view, click, impression), buy (integer `amount_cents`), hit errors (with an error spike on
 * one product), fail to log in (with bursts that exceed 5 in 10 minutes), and update their
 * profiles. On top of that, a settable share of events is delivered late, duplicated, or malformed,
 * and every emitted item says which, so tests can check any layer against the generator's own
 * record instead of against the layer's output.
 */

export const MALFORMATIONS = [
  'missing_field',
  'wrong_type',
  'bad_type_name',
  'non_integer_amount',
  'far_future',
  'unparsable',
] as const;
export type Malformation = (typeof MALFORMATIONS)[number];

/** The field `validateEvent` names when it rejects each kind of malformed item. */
export const MALFORMATION_FIELD: Record<Malformation, string> = {
  missing_field: 'user_id',
  wrong_type: 'user_id',
  bad_type_name: 'type',
  non_integer_amount: 'amount_cents',
  far_future: 'event_time',
  unparsable: '(event)',
};

/** A far-future event lies this far past the stream's own clock: beyond any sane skew allowance. */
export const FAR_FUTURE_MS = 10 * 365 * 86_400_000;

export interface ErrorSpike {
  product_id: string;
  /** Event-time range `[from, to)` in epoch ms. */
  from: number;
  to: number;
  /** Share of the product's page views that turn into errors during the spike. */
  errorShare: number;
}

export interface WorkloadOptions {
  seed: number;
  /** Exact number of items to emit, duplicates and malformed ones included. */
  count?: number;
  /** Or: the event-time span to cover, in ms (then the item count follows from the rate). */
  durationMs?: number;
  /** Events per second of event time. */
  rate: number;
  /** Event time of the first event, epoch ms. */
  startTime: number;
  users: number;
  products: number;
  /** Share of valid events held back and delivered about `lateDelayMs` after their event time. */
  lateShare: number;
  /** Mean delivery delay of a late event; each one is uniform in [0.5, 1.5) times this. */
  lateDelayMs: number;
  /** Share of valid events emitted a second time (same event, same `event_id`), as by a retry. */
  duplicateShare: number;
  /** Share of items that are invalid, spread evenly over `MALFORMATIONS`. */
  malformedShare: number;
  /** The error spike; `null` for none. Unset: one on the most popular product, mid-stream. */
  errorSpike?: ErrorSpike | null;
  /** How many users per hour of event time start a burst of 6-10 failed logins within 10 minutes. */
  loginBurstsPerHour: number;
}

export const WORKLOAD_DEFAULTS = {
  seed: 1,
  rate: 1000,
  users: 5000,
  products: 200,
  lateShare: 0,
  lateDelayMs: 60_000,
  duplicateShare: 0,
  malformedShare: 0,
  loginBurstsPerHour: 6,
} satisfies Partial<WorkloadOptions>;

export type ItemKind = 'valid' | 'duplicate' | 'malformed';

export interface WorkloadItem {
  /** Position in the emitted stream, from 0. */
  seq: number;
  /** `duplicate` is the second copy of a valid event; both copies are accepted at ingest. */
  kind: ItemKind;
  /** The event as a producer sends it (shared between a valid item and its duplicate: do not mutate); null when `text` is set. */
  event: Record<string, unknown> | null;
  /** Input that is not JSON at all (the `unparsable` malformation). */
  text: string | null;
  /** The stream's event-time clock when the item is emitted: event_time, or later for late and duplicate items. */
  emittedAt: number;
  /** Delivered after events with later event times ("phones that were offline"). */
  late: boolean;
  malformation: Malformation | null;
  /** The field the edge names when rejecting this item; null when it must be accepted. */
  rejectField: string | null;
}

/** The generator's own record of what it emitted, complete once iteration ends. */
export interface WorkloadTruth {
  items: number;
  valid: number;
  duplicates: number;
  late: number;
  malformed: number;
  malformedByKind: Record<Malformation, number>;
  /** Items the edge must accept: `valid + duplicates`. Distinct accepted event ids: `valid`. */
  accepted: number;
  firstEventTime: number | null;
  lastEventTime: number | null;
  errorSpike: ErrorSpike | null;
  /** Users given a burst of failed logins, in order of the burst's start. */
  loginBurstUsers: string[];
}

const TYPE_WEIGHTS: Array<[string, number]> = [
  ['page_view', 0.5],
  ['impression', 0.2],
  ['click', 0.15],
  ['purchase', 0.06],
  ['profile_update', 0.075],
  ['error', 0.015],
];
const TIERS = ['free', 'silver', 'gold', 'platinum'] as const;
const COUNTRIES = ['DE', 'US', 'FR', 'GB', 'NL', 'JP', 'BR', 'IN', 'ES', 'PL'] as const;
const ERROR_CODES = ['E500', 'E502', 'E503', 'TIMEOUT'] as const;
const BAD_TYPE_NAMES = ['page_veiw', 'Purchase', 'checkout', ''] as const;
const ADS = 50;
/** A user's browsing session ends after each event with this probability (about 30 events). */
const SESSION_END_CHANCE = 1 / 30;
/**
 * A session opens with a mistyped password this often. Tying the honest failures to session starts
 * keeps them at about one per session, so only the bursts exceed 5 in 10 minutes.
 */
const LOGIN_TYPO_CHANCE = 0.1;
/** A duplicate follows its original within this much stream time, as a producer's retry would. */
const DUPLICATE_RETRY_MAX_MS = 2000;
const BURST_MIN = 6;
const BURST_MAX = 10;
/** Gaps between a burst's attempts: 10 attempts at most 60 s apart stay within 10 minutes. */
const BURST_GAP_MIN_MS = 2000;
const BURST_GAP_MAX_MS = 60_000;

export function validateWorkloadOptions(o: WorkloadOptions): void {
  const shares = { lateShare: o.lateShare, duplicateShare: o.duplicateShare, malformedShare: o.malformedShare };
  for (const [name, v] of Object.entries(shares)) {
    if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} must be between 0 and 1, got ${v}`);
  }
  if ((o.count === undefined) === (o.durationMs === undefined)) {
    throw new RangeError('set exactly one of count and durationMs');
  }
  const positive = { rate: o.rate, users: o.users, products: o.products };
  for (const [name, v] of Object.entries(positive)) {
    if (!(v > 0 && Number.isFinite(v))) throw new RangeError(`${name} must be positive, got ${v}`);
  }
  if (!Number.isSafeInteger(o.users) || !Number.isSafeInteger(o.products)) {
    throw new RangeError('users and products must be integers');
  }
  if (o.count !== undefined && !(Number.isSafeInteger(o.count) && o.count >= 0)) {
    throw new RangeError(`count must be a non-negative integer, got ${o.count}`);
  }
  if (o.durationMs !== undefined && !(o.durationMs >= 0)) throw new RangeError('durationMs must be >= 0');
  if (!Number.isSafeInteger(o.startTime) || o.startTime < 0) throw new RangeError('startTime must be epoch ms');
  if (!(o.lateDelayMs >= 0) || !(o.loginBurstsPerHour >= 0)) {
    throw new RangeError('lateDelayMs and loginBurstsPerHour must be >= 0');
  }
}

/** The event-time span the workload covers, in ms. */
export function workloadSpanMs(o: Pick<WorkloadOptions, 'count' | 'durationMs' | 'rate'>): number {
  return o.durationMs ?? Math.ceil(((o.count ?? 0) * 1000) / o.rate);
}

/** Ids are built once: per-event string building would dominate the generator's cost. */
function ids(prefix: string, n: number): string[] {
  const width = String(n - 1).length;
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(width, '0')}`);
}

/**
 * Iterating yields the workload's items; each iteration starts again from the seed and yields the
 * same stream. `truth` describes the last (or current) iteration.
 */
export class Workload implements Iterable<WorkloadItem> {
  readonly errorSpike: ErrorSpike | null;
  truth: WorkloadTruth = emptyTruth(null);
  private readonly userIds: string[];
  private readonly productIds: string[];

  constructor(readonly options: WorkloadOptions) {
    validateWorkloadOptions(options);
    this.userIds = ids('user-', options.users);
    this.productIds = ids('product-', options.products);
    this.errorSpike = options.errorSpike === undefined ? this.defaultSpike() : options.errorSpike;
  }

  private defaultSpike(): ErrorSpike {
    const span = workloadSpanMs(this.options);
    const length = Math.max(60_000, Math.min(10 * 60_000, Math.floor(span / 10)));
    const from = this.options.startTime + Math.floor(span / 2);
    return { product_id: this.productIds[0]!, from, to: from + length, errorShare: 0.3 };
  }

  *[Symbol.iterator](): Generator<WorkloadItem, void, undefined> {
    const o = this.options;
    const rng = new Rng(o.seed);
    const truth = (this.truth = emptyTruth(this.errorSpike));
    const pending = new PendingQueue<WorkloadItem>();
    const end = o.durationMs === undefined ? Infinity : o.startTime + o.durationMs;
    const fresh = new EventMaker(rng, o, this.userIds, this.productIds, this.errorSpike, truth);
    let emitted = 0;
    const emit = (item: WorkloadItem, at: number): WorkloadItem => {
      item.seq = emitted++;
      item.emittedAt = at;
      tally(truth, item);
      return item;
    };

    for (let slot = 0; ; slot++) {
      const t = o.startTime + Math.floor((slot * 1000) / o.rate);
      const more = o.count === undefined ? t < end : emitted + pending.size < o.count;
      if (!more) break;
      while (pending.peekAt() <= t) {
        const p = pending.pop()!;
        yield emit(p.item, p.at);
      }
      const item = fresh.make(slot, t);
      let due = t;
      if (item.kind === 'valid' && rng.chance(o.lateShare)) {
        item.late = true;
        due = t + Math.floor(o.lateDelayMs * (0.5 + rng.next()));
        pending.push(due, item);
      } else {
        yield emit(item, t);
      }
      const room = o.count === undefined || emitted + pending.size < o.count;
      if (item.kind === 'valid' && room && rng.chance(o.duplicateShare)) {
        pending.push(due + rng.int(DUPLICATE_RETRY_MAX_MS), { ...item, kind: 'duplicate' });
      }
    }
    while (pending.size > 0) {
      const p = pending.pop()!;
      yield emit(p.item, p.at);
    }
  }
}

function emptyTruth(errorSpike: ErrorSpike | null): WorkloadTruth {
  return {
    items: 0,
    valid: 0,
    duplicates: 0,
    late: 0,
    malformed: 0,
    malformedByKind: Object.fromEntries(MALFORMATIONS.map((m) => [m, 0])) as Record<Malformation, number>,
    accepted: 0,
    firstEventTime: null,
    lastEventTime: null,
    errorSpike,
    loginBurstUsers: [],
  };
}

function tally(truth: WorkloadTruth, item: WorkloadItem): void {
  truth.items++;
  if (item.late) truth.late++;
  if (item.kind === 'malformed') {
    truth.malformed++;
    truth.malformedByKind[item.malformation!]++;
    return;
  }
  if (item.kind === 'valid') truth.valid++;
  else truth.duplicates++;
  truth.accepted++;
  const t = item.event!.event_time as number;
  if (truth.firstEventTime === null || t < truth.firstEventTime) truth.firstEventTime = t;
  if (truth.lastEventTime === null || t > truth.lastEventTime) truth.lastEventTime = t;
}

/** Makes one fresh event per stream slot, keeping the users' sessions and the login bursts. */
class EventMaker {
  private readonly idPrefix: string;
  /** Users currently browsing; a slot's user is drawn from here, so activity comes in sessions. */
  private readonly active: Int32Array;
  /** Set for a pool slot whose session has not had its first event yet. */
  private readonly opening: Uint8Array;
  private readonly burstChance: number;
  private burstUser = -1;
  private burstLeft = 0;
  private burstNextAt = 0;

  constructor(
    private readonly rng: Rng,
    private readonly o: WorkloadOptions,
    private readonly users: string[],
    private readonly products: string[],
    private readonly spike: ErrorSpike | null,
    private readonly truth: WorkloadTruth,
  ) {
    this.idPrefix = `evt-${(o.seed >>> 0).toString(36)}-`;
    this.active = new Int32Array(Math.max(1, Math.ceil(o.users / 10)));
    for (let i = 0; i < this.active.length; i++) this.active[i] = rng.int(o.users);
    this.opening = new Uint8Array(this.active.length).fill(1);
    this.burstChance = o.loginBurstsPerHour / (o.rate * 3600);
  }

  make(slot: number, t: number): WorkloadItem {
    const eventId = this.idPrefix + slot.toString(36);
    if (this.rng.chance(this.o.malformedShare)) return this.malformed(eventId, t);
    return item('valid', this.valid(eventId, t), null, null);
  }

  private valid(eventId: string, t: number): Record<string, unknown> {
    const rng = this.rng;
    const burst = this.burstEvent(eventId, t);
    if (burst) return burst;
    const slot = rng.int(this.active.length);
    const user = this.sessionUser(slot);
    if (this.opening[slot] === 1) {
      this.opening[slot] = 0;
      if (rng.chance(LOGIN_TYPO_CHANCE)) return { event_id: eventId, type: 'login_failed', event_time: t, user_id: user };
    }
    let type = pickWeighted(rng.next());
    const product = this.products[Math.floor(this.products.length * rng.next() ** 2)]!;
    if (type === 'page_view' && this.spike && product === this.spike.product_id) {
      if (t >= this.spike.from && t < this.spike.to && rng.chance(this.spike.errorShare)) type = 'error';
    }
    const e: Record<string, unknown> = { event_id: eventId, type, event_time: t, user_id: user };
    switch (type) {
      case 'page_view':
        // One view in ten is of a page that is not a product page (home, search).
        if (rng.next() < 0.9) e.product_id = product;
        break;
      case 'impression':
        e.ad_id = `ad-${rng.int(ADS)}`;
        e.product_id = product;
        break;
      case 'click':
        e.product_id = product;
        if (rng.next() < 0.7) e.ad_id = `ad-${rng.int(ADS)}`;
        break;
      case 'purchase':
        e.product_id = product;
        e.amount_cents = Math.floor(100 * Math.exp(rng.next() * 6));
        break;
      case 'error':
        e.product_id = product;
        e.error_code = rng.pick(ERROR_CODES);
        break;
      case 'profile_update':
        e.tier = rng.pick(TIERS);
        e.country = rng.pick(COUNTRIES);
        break;
    }
    return e;
  }

  /** The user of a pool slot; after the event, the session may end and another user take the slot. */
  private sessionUser(slot: number): string {
    const rng = this.rng;
    const user = this.users[this.active[slot]!]!;
    if (rng.chance(SESSION_END_CHANCE)) {
      this.active[slot] = rng.int(this.users.length);
      this.opening[slot] = 1;
    }
    return user;
  }

  private burstEvent(eventId: string, t: number): Record<string, unknown> | null {
    const rng = this.rng;
    if (this.burstLeft === 0 && rng.chance(this.burstChance)) {
      this.burstUser = rng.int(this.users.length);
      this.burstLeft = rng.between(BURST_MIN, BURST_MAX);
      this.burstNextAt = t;
      this.truth.loginBurstUsers.push(this.users[this.burstUser]!);
    }
    if (this.burstLeft === 0 || t < this.burstNextAt) return null;
    this.burstLeft--;
    this.burstNextAt = t + rng.between(BURST_GAP_MIN_MS, BURST_GAP_MAX_MS);
    return { event_id: eventId, type: 'login_failed', event_time: t, user_id: this.users[this.burstUser]! };
  }

  private malformed(eventId: string, t: number): WorkloadItem {
    const rng = this.rng;
    const kind = rng.pick(MALFORMATIONS);
    const user = this.sessionUser(rng.int(this.active.length));
    const product = this.products[rng.int(this.products.length)]!;
    const view = (): Record<string, unknown> => ({
      event_id: eventId,
      type: 'page_view',
      event_time: t,
      user_id: user,
      product_id: product,
    });
    let e: Record<string, unknown>;
    switch (kind) {
      case 'missing_field':
        e = view();
        delete e.user_id;
        break;
      case 'wrong_type':
        e = { ...view(), user_id: rng.int(this.users.length) };
        break;
      case 'bad_type_name':
        e = { ...view(), type: rng.pick(BAD_TYPE_NAMES) };
        break;
      case 'non_integer_amount':
        e = { ...view(), type: 'purchase', amount_cents: rng.between(100, 9999) + 0.5 };
        break;
      case 'far_future':
        e = { ...view(), event_time: t + FAR_FUTURE_MS };
        break;
      case 'unparsable':
        // A line cut short, as a producer that died mid-write leaves it.
        return item('malformed', null, JSON.stringify(view()).slice(0, -7), kind);
    }
    return item('malformed', e, null, kind);
  }
}

function item(
  kind: ItemKind,
  event: Record<string, unknown> | null,
  text: string | null,
  malformation: Malformation | null,
): WorkloadItem {
  return {
    seq: -1,
    kind,
    event,
    text,
    emittedAt: 0,
    late: false,
    malformation,
    rejectField: malformation === null ? null : MALFORMATION_FIELD[malformation],
  };
}

function pickWeighted(r: number): string {
  for (const [type, w] of TYPE_WEIGHTS) {
    if (r < w) return type;
    r -= w;
  }
  return TYPE_WEIGHTS[0]![0];
}

/** The item as one NDJSON line (without the newline). */
export function itemLine(item: WorkloadItem): string {
  return item.text ?? JSON.stringify(item.event);
}

/** The item as the ingest edge receives it. */
export function itemRaw(item: WorkloadItem): RawEvent {
  if (item.text === null) return { value: item.event };
  try {
    return { value: JSON.parse(item.text) };
  } catch (err) {
    return { unparsable: item.text, error: (err as Error).message };
  }
}
