import { ARCHIVE_COLUMNS, unchangedEventBranches, type JsonSchema } from '@lambda/shared';
import { sqlString } from '../sql.ts';
import { ARCHIVE_SELECT, JSON_COLUMN_TYPES } from './json-columns.ts';

/**
 * The archiver's fast path: a DuckDB query, compiled from the event schema itself, that decides on
 * DuckDB's threads which raw records are valid events, so the JavaScript thread never parses them.
 *
 * It is one-sided by design. It accepts only a record that `validateEvent` accepts unchanged:
 * strict, minified JSON without escapes or duplicate keys, whose fields pass checks at least as
 * strict as the schema's. Anything it cannot vouch for (an ISO `event_time` that needs normalising,
 * a string format, a pattern it does not translate, a number that is not a plain integer) goes to
 * the JavaScript path, where zod decides and names the reason. So the schema stays the one
 * authority, and a change to it can only make the fast path narrower, never wrong.
 */

type ColumnType = (typeof ARCHIVE_COLUMNS)[number][1];
const COLUMN_TYPES = new Map<string, ColumnType>(ARCHIVE_COLUMNS);

/** Patterns whose JavaScript and RE2 meanings agree: anchored, literals, classes and counts only. */
const PORTABLE_PATTERN = /^\^((?:[A-Za-z0-9_-]|\[[A-Za-z0-9_-]+\]|\{\d+(?:,\d*)?\})*)\$$/;

// What the schema decides, compiled once: only the future limit differs between flushes.
const BRANCHES = unchangedEventBranches();
const NAMES = knownNames(BRANCHES);
const FIELD_TEXTS = `{${NAMES.map((n) => `"${n}": "JSON"`).join(', ')}}`;
// An integer field is read once, as the integer its text spells, or NULL.
const INTEGERS = NAMES.filter((n) => COLUMN_TYPES.get(n) === 'BIGINT' || COLUMN_TYPES.get(n) === 'TIMESTAMPTZ').map(
  (n) => `CASE WHEN regexp_full_match(${textOf(n)}, '-?[0-9]+') THEN TRY_CAST(${textOf(n)} AS BIGINT) END AS ${integerOf(n)}`,
);
const SCHEMA_SQL = [minifiedSql(NAMES), branchesSql(BRANCHES, NAMES)];
const EVENT_FIELDS = `{${JSON_COLUMN_TYPES.filter(([n]) => n !== 'log_partition' && n !== 'log_offset')
  .map(([n, t]) => `"${n}": "${t}"`)
  .join(', ')}}`;

/**
 * A query over `source` (a query with the columns `p`, `o` and the record's text `raw`) that adds
 * `ok`, true only for events the schema accepts unchanged and whose `event_time` is at most
 * `maxEventTimeMs`. Each record is parsed once here, and once more by `fastRowsQuery` if accepted
 * (measured faster than keeping every field's text between the two).
 */
export function fastCheckQuery(source: string, maxEventTimeMs: number): string {
  const ok = ['f IS NOT NULL', `${integerOf('event_time')} <= ${Math.floor(maxEventTimeMs)}`, ...SCHEMA_SQL].join(' AND ');
  return `SELECT p, o, raw, coalesce(${ok}, false) AS ok
          FROM (SELECT *, ${INTEGERS.length > 0 ? INTEGERS.join(', ') : 'NULL AS none'}
                FROM (SELECT p, o, raw, f, ${NAMES.map((n) => `f.${n}::VARCHAR AS ${textOf(n)}`).join(', ')}
                      FROM (SELECT p, o, raw, try(from_json(raw, '${FIELD_TEXTS}')) AS f FROM (${source}))))`;
}

/** The archive's rows of the records of a `fastCheckQuery` result that the fast path accepted. */
export function fastRowsQuery(checked: string): string {
  return `SELECT ${ARCHIVE_SELECT}
          FROM (SELECT unnest(from_json(raw, '${EVENT_FIELDS}')), p AS log_partition, o AS log_offset
                FROM (${checked}) WHERE ok)`;
}

/**
 * True only when the record's text is exactly its known fields, minified: `{"k":v,...}` with no
 * space, no other key and no key twice. The fields' texts are what was parsed out of the record,
 * so any of those would make the text longer than the sum of its parts. A lenient reader's
 * leniencies (trailing commas, whitespace, duplicate keys) go the slow path this way.
 */
function minifiedSql(names: string[]): string {
  const parts = names.map((n) => `coalesce(strlen(${textOf(n)}) + ${Buffer.byteLength(n) + 4}, 0)`);
  // Each present field is `"name":text` plus one comma; the last comma is the closing brace, plus 1 for the opening one.
  return `strlen(raw) = 1 + ${parts.join(' + ')}`;
}

/** Every property any branch knows: the fields parsed out of each record. */
function knownNames(branches: JsonSchema[]): string[] {
  return [...new Set(branches.flatMap((b) => Object.keys(b.properties ?? {})))];
}

/**
 * The union's branches, as a CASE on the discriminator when every branch has one (as the event
 * schema's `type` is), so that each record is checked against its own branch only.
 */
function branchesSql(branches: JsonSchema[], names: string[]): string {
  if (branches.length === 0) return 'false';
  const discriminator = Object.keys(branches[0]!.properties ?? {}).find((name) =>
    branches.every((b) => b.required?.includes(name) && typeof b.properties?.[name]?.const === 'string'),
  );
  if (discriminator === undefined) return `(${branches.map((b) => objectSql(b, names)).join(' OR ')})`;
  const cases = branches.map(
    (b) => `WHEN ${sqlString(JSON.stringify(b.properties![discriminator]!.const))} THEN ${objectSql(b, names)}`,
  );
  return `CASE ${textOf(discriminator)} ${cases.join(' ')} ELSE false END`;
}

/** With `minifiedSql` holding, the record has no keys but the known ones; here, only the branch's. */
function objectSql(schema: JsonSchema, known: string[]): string {
  if (schema.type !== 'object' || !schema.properties || schema.additionalProperties !== false) return 'false';
  const names = Object.keys(schema.properties);
  const checks = [
    ...known.filter((n) => !names.includes(n)).map((n) => `${textOf(n)} IS NULL`),
    ...(schema.required ?? []).map((n) => `${textOf(n)} IS NOT NULL`),
    ...names.map((name) => {
      const check = valueSql(name, schema.properties![name]!);
      return schema.required?.includes(name) ? check : `(${textOf(name)} IS NULL OR ${check})`;
    }),
  ];
  return `(${checks.join(' AND ')})`;
}

function valueSql(name: string, schema: JsonSchema): string {
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches) return branches.length > 0 ? `(${branches.map((b) => valueSql(name, b)).join(' OR ')})` : 'false';
  const column = COLUMN_TYPES.get(name);
  if (schema.type === 'string' && column === 'VARCHAR') return stringSql(name, schema);
  if (schema.type === 'integer' && (column === 'BIGINT' || column === 'TIMESTAMPTZ')) return integerSql(name, schema);
  // Not a column of the archive, or a type the archive does not store as given: zod decides.
  return 'false';
}

/*
 * The checks below read a field's minified JSON text, not a parsed value: the records reaching them
 * are minified (see `fastCheckQuery`) and their text has no backslash (see `canFrame`), so a string
 * field's text is its exact value between two quotes.
 */

function stringSql(name: string, schema: JsonSchema): string {
  if (schema.format !== undefined) return 'false';
  const text = textOf(name);
  const checks = [`starts_with(${text}, '"')`];
  // zod counts code points, as DuckDB's length() does; UTF-8 bytes never fall short of them, so
  // the byte bound is at least as strict as the schema's.
  if (schema.minLength !== undefined) checks.push(`length(${text}) - 2 >= ${schema.minLength}`);
  if (schema.maxLength !== undefined) checks.push(`strlen(${text}) - 2 <= ${schema.maxLength}`);
  if (schema.const !== undefined) checks.push(`${text} = ${quoted(schema.const)}`);
  if (schema.enum !== undefined) checks.push(`${text} IN (${schema.enum.map(quoted).join(', ')})`);
  if (schema.pattern !== undefined) {
    const inner = PORTABLE_PATTERN.exec(schema.pattern)?.[1];
    if (inner === undefined) return 'false';
    checks.push(`regexp_full_match(${text}, ${sqlString(`"${inner}"`)})`);
  }
  return `(${checks.join(' AND ')})`;
}

function integerSql(name: string, schema: JsonSchema): string {
  const value = integerOf(name);
  const checks = [`${value} IS NOT NULL`];
  if (schema.minimum !== undefined) checks.push(`${value} >= ${schema.minimum}`);
  if (schema.maximum !== undefined) checks.push(`${value} <= ${schema.maximum}`);
  if (schema.exclusiveMinimum !== undefined) checks.push(`${value} > ${schema.exclusiveMinimum}`);
  if (schema.exclusiveMaximum !== undefined) checks.push(`${value} < ${schema.exclusiveMaximum}`);
  return `(${checks.join(' AND ')})`;
}

/** A string constant as its JSON text, as a SQL literal. */
function quoted(value: unknown): string {
  return sqlString(JSON.stringify(String(value)));
}

function textOf(name: string): string {
  return `"json_${name}"`;
}

function integerOf(name: string): string {
  return `"int_${name}"`;
}
