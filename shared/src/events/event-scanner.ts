import { EVENT_TYPES, MAX_EVENT_BYTES } from './schema.ts';
import { unchangedEventBranches, type JsonSchema } from './unchanged-schema.ts';
import type { ValidateOptions } from './validate.ts';

/**
 * The consumer's fast path from a record's bytes to an event, without `JSON.parse`: one pass over
 * the bytes, checked against rules compiled from the event schema itself. Parsing, validating and
 * packing the parsed objects was the busiest part of the consumer's thread (`JSON.parse` interns
 * every short string value, a V8 string-table lookup each), and its objects were garbage.
 *
 * It is one-sided, like the archiver's DuckDB check (batch-layer's fast-accept.ts): it vouches only
 * for a record that `decodeEvent` accepts unchanged, and returns false for anything it cannot vouch
 * for (an escape or a character outside printable ASCII in a string, a number that is not a plain
 * integer, a key twice, an ISO `event_time`, an event over the size limit, any invalid one), which
 * then takes the `decodeEvent` path, where zod decides. So the schema stays the one authority, and
 * a change to it can only make the fast path narrower, never wrong.
 */

/** What `scanEvent` found for a field: not there, a string, or a plain integer. */
const ABSENT = 0;
export const STRING = 1;
export const INTEGER = 2;

/**
 * A scanned record's fields, by their number in FIELD_NAMES: what each is, where a string's
 * characters start and end in the record's bytes (no escapes: they are its value, one byte a
 * character), and an integer's value. One instance is reused for every record.
 */
export class ScannedEvent {
  /** The event's type, as its number in EVENT_TYPES. */
  type = 0;
  readonly kinds = new Uint8Array(FIELD_COUNT);
  readonly starts = new Int32Array(FIELD_COUNT);
  readonly ends = new Int32Array(FIELD_COUNT);
  readonly integers = new Float64Array(FIELD_COUNT);
}

/** A value rule compiled from a property's JSON Schema; NEVER for anything the scanner does not vouch for. */
type Rule =
  | { kind: 'never' }
  | { kind: 'string'; minLength: number; maxLength: number; oneOf: Uint8Array[] | null; pattern: RegExp | null }
  | { kind: 'integer'; minimum: number; maximum: number; exclusiveMinimum: number; exclusiveMaximum: number }
  | { kind: 'anyOf'; rules: Rule[] };

interface Branch {
  type: number;
  /** The discriminator's value, as bytes. */
  tag: Uint8Array;
  /** Per field number: its rule, or null where the branch has no such property. */
  rules: (Rule | null)[];
  required: boolean[];
}

const BRANCHES = unchangedEventBranches();
/** Every property any branch knows, numbered. */
export const FIELD_NAMES: readonly string[] = [...new Set(BRANCHES.flatMap((b) => Object.keys(b.properties ?? {})))];
const FIELD_COUNT = FIELD_NAMES.length;
const NAME_BYTES = FIELD_NAMES.map((n) => Buffer.from(n));
const DISCRIMINATOR = FIELD_NAMES.findIndex((name) =>
  BRANCHES.every((b) => b.required?.includes(name) && typeof b.properties?.[name]?.const === 'string'),
);
const COMPILED: Branch[] = DISCRIMINATOR < 0 ? [] : BRANCHES.map(compileBranch).filter((b): b is Branch => b !== null);
const TAGS = COMPILED.map((b) => b.tag);
const EVENT_TIME = FIELD_NAMES.indexOf('event_time');

/** A branch's rules, or null where the scanner vouches for none of its events. */
function compileBranch(schema: JsonSchema): Branch | null {
  const tag = schema.properties![FIELD_NAMES[DISCRIMINATOR]!]!.const as string;
  const type = (EVENT_TYPES as readonly string[]).indexOf(tag);
  if (type < 0 || schema.type !== 'object' || schema.additionalProperties !== false) return null;
  const props = schema.properties!;
  return {
    type,
    tag: Buffer.from(tag),
    rules: FIELD_NAMES.map((n) => (props[n] ? compileRule(props[n]) : null)),
    required: FIELD_NAMES.map((n) => schema.required?.includes(n) ?? false),
  };
}

function compileRule(schema: JsonSchema): Rule {
  const alternatives = schema.anyOf ?? schema.oneOf;
  // oneOf's "exactly one" never differs from anyOf here: string and integer branches cannot both hold.
  if (alternatives) return { kind: 'anyOf', rules: alternatives.map(compileRule) };
  const known = new Set(['type', 'minLength', 'maxLength', 'const', 'enum', 'pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']);
  if (Object.keys(schema).some((k) => !known.has(k))) return { kind: 'never' };
  if (schema.type === 'string') {
    const values = schema.const !== undefined ? [schema.const] : schema.enum;
    return {
      kind: 'string',
      minLength: schema.minLength ?? 0,
      maxLength: schema.maxLength ?? Infinity,
      oneOf: values ? values.map((v) => Buffer.from(String(v))) : null,
      // As zod and ajv (plain-event.ts) compile it: without the u flag. On printable ASCII the flag changes nothing anyway.
      pattern: schema.pattern !== undefined ? new RegExp(schema.pattern) : null,
    };
  }
  if (schema.type === 'integer') {
    return {
      kind: 'integer',
      minimum: schema.minimum ?? -Infinity,
      maximum: schema.maximum ?? Infinity,
      exclusiveMinimum: schema.exclusiveMinimum ?? -Infinity,
      exclusiveMaximum: schema.exclusiveMaximum ?? Infinity,
    };
  }
  return { kind: 'never' };
}

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const ZERO = 0x30;
const NINE = 0x39;
const TILDE = 0x7e;
/** Digits of an integer read exactly: 16 reach past 2^53, and anything there is deferred. */
const MAX_DIGITS = 16;

/**
 * Whether the record `bytes[start, end)` is an event the fast path vouches for; then `out` holds its
 * fields. False means only "not here": the caller decodes the record the slow way.
 */
export function scanEvent(bytes: Uint8Array, start: number, end: number, limits: ValidateOptions, out: ScannedEvent): boolean {
  // Accepted records are ASCII: their byte count is the size decodeEvent would measure.
  if (end - start > MAX_EVENT_BYTES) return false;
  const { kinds, starts, ends, integers } = out;
  for (let f = 0; f < FIELD_COUNT; f++) kinds[f] = ABSENT;
  let i = skipSpace(bytes, start, end);
  if (i >= end || bytes[i] !== OPEN) return false;
  i = skipSpace(bytes, i + 1, end);
  for (;;) {
    if (i >= end || bytes[i] !== QUOTE) return false;
    const nameEnd = stringEnd(bytes, i + 1, end);
    if (nameEnd < 0) return false;
    const f = oneOf(bytes, i + 1, nameEnd, NAME_BYTES);
    if (f < 0 || kinds[f] !== ABSENT) return false;
    i = skipSpace(bytes, nameEnd + 1, end);
    if (i >= end || bytes[i] !== COLON) return false;
    i = skipSpace(bytes, i + 1, end);
    if (i >= end) return false;
    const c = bytes[i]!;
    if (c === QUOTE) {
      const valueEnd = stringEnd(bytes, i + 1, end);
      if (valueEnd < 0) return false;
      kinds[f] = STRING;
      starts[f] = i + 1;
      ends[f] = valueEnd;
      i = valueEnd + 1;
    } else if (c >= ZERO && c <= NINE) {
      let value = 0;
      let j = i;
      // The digit is added as a digit: adding the byte first took sums past 2^53, where doubles
      // round, and integers just under it were read one off.
      for (; j < end && bytes[j]! >= ZERO && bytes[j]! <= NINE; j++) value = 10 * value + (bytes[j]! - ZERO);
      // A leading zero is not JSON; a fraction or exponent is not a plain integer: both go the slow way.
      if ((c === ZERO && j - i > 1) || j - i > MAX_DIGITS || value > Number.MAX_SAFE_INTEGER) return false;
      kinds[f] = INTEGER;
      integers[f] = value;
      i = j;
    } else {
      return false;
    }
    i = skipSpace(bytes, i, end);
    if (i >= end) return false;
    if (bytes[i] === CLOSE) break;
    if (bytes[i] !== COMMA) return false;
    i = skipSpace(bytes, i + 1, end);
  }
  if (skipSpace(bytes, i + 1, end) !== end) return false;
  return conforms(bytes, limits, out);
}

/** Whether the scanned fields are an event of their type's branch, within the future-skew limit. */
function conforms(bytes: Uint8Array, limits: ValidateOptions, out: ScannedEvent): boolean {
  if (DISCRIMINATOR < 0 || out.kinds[DISCRIMINATOR] !== STRING) return false;
  const branch = COMPILED[oneOf(bytes, out.starts[DISCRIMINATOR]!, out.ends[DISCRIMINATOR]!, TAGS)];
  if (!branch) return false;
  for (let f = 0; f < FIELD_COUNT; f++) {
    if (out.kinds[f] === ABSENT) {
      if (branch.required[f]) return false;
      continue;
    }
    const rule = branch.rules[f];
    if (!rule || !passes(rule, bytes, out, f)) return false;
  }
  if (out.kinds[EVENT_TIME] !== INTEGER || out.integers[EVENT_TIME]! > limits.now + limits.maxFutureSkewMs) return false;
  out.type = branch.type;
  return true;
}

function passes(rule: Rule, bytes: Uint8Array, out: ScannedEvent, f: number): boolean {
  switch (rule.kind) {
    case 'anyOf':
      for (const r of rule.rules) if (passes(r, bytes, out, f)) return true;
      return false;
    case 'string': {
      if (out.kinds[f] !== STRING) return false;
      const start = out.starts[f]!;
      const end = out.ends[f]!;
      // One byte is one character, one UTF-16 unit and one code point: every length count agrees.
      if (end - start < rule.minLength || end - start > rule.maxLength) return false;
      if (rule.oneOf && oneOf(bytes, start, end, rule.oneOf) < 0) return false;
      return !rule.pattern || rule.pattern.test(String.fromCharCode(...bytes.subarray(start, end)));
    }
    case 'integer': {
      if (out.kinds[f] !== INTEGER) return false;
      const v = out.integers[f]!;
      return v >= rule.minimum && v <= rule.maximum && v > rule.exclusiveMinimum && v < rule.exclusiveMaximum;
    }
    case 'never':
      return false;
  }
}

function skipSpace(bytes: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = bytes[i]!;
    if (c !== SPACE && c !== LF && c !== CR && c !== TAB) break;
    i++;
  }
  return i;
}

/** Where the string starting at `i` closes, or -1 when it holds anything but printable ASCII without escapes. */
function stringEnd(bytes: Uint8Array, i: number, end: number): number {
  for (; i < end; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) return i;
    if (c < SPACE || c > TILDE || c === BACKSLASH) return -1;
  }
  return -1;
}

/** Which of `candidates` the bytes are, -1 for none. Loops, not closures: this runs several times per record. */
function oneOf(bytes: Uint8Array, start: number, end: number, candidates: readonly Uint8Array[]): number {
  for (let k = 0; k < candidates.length; k++) if (equalBytes(bytes, start, end, candidates[k]!)) return k;
  return -1;
}

function equalBytes(bytes: Uint8Array, start: number, end: number, expected: Uint8Array): boolean {
  if (end - start !== expected.length) return false;
  for (let k = 0; k < expected.length; k++) if (bytes[start + k] !== expected[k]) return false;
  return true;
}
