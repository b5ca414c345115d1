import { z } from 'zod';
import { eventSchema } from './schema.ts';

/**
 * The event schema as JSON Schema, cut down to what passes through validation unchanged: the
 * branches (and field alternatives) whose input and output schemas are the same. Fast checks
 * compiled from it (the archiver's DuckDB check, `isPlainValidEvent`) accept only events that zod
 * would return exactly as given, so they can skip zod without ever disagreeing with it.
 */

export type JsonSchema = {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: unknown;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  const?: unknown;
  enum?: unknown[];
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  not?: JsonSchema;
};

/** The unchanged branches of the event union, one object schema per event type. */
export function unchangedEventBranches(): JsonSchema[] {
  const input = z.toJSONSchema(eventSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const output = z.toJSONSchema(eventSchema, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
  return unchangedBranches(input, output);
}

/**
 * The schema's branches as they are after parsing: a branch whose input and output schemas differ
 * transforms the value (as `event_time` does with ISO strings), so the fast path, which archives the
 * input as is, must not take it.
 */
function unchangedBranches(input: JsonSchema, output: JsonSchema): JsonSchema[] {
  const ins = input.oneOf ?? input.anyOf ?? [input];
  const outs = output.oneOf ?? output.anyOf ?? [output];
  return ins.map((branch, i) => restrictToOutput(branch, outs[i])).filter((b): b is JsonSchema => b !== null);
}

function restrictToOutput(input: JsonSchema, output: JsonSchema | undefined): JsonSchema | null {
  if (output === undefined) return null;
  const ins = input.anyOf ?? input.oneOf;
  if (ins) {
    const outs = output.anyOf ?? output.oneOf ?? [];
    const kept = ins.filter((b) => outs.some((o) => sameSchema(b, o)));
    return kept.length > 0 ? { anyOf: kept } : null;
  }
  if (input.properties) {
    const properties: Record<string, JsonSchema> = {};
    for (const [name, schema] of Object.entries(input.properties)) {
      // A property with no unchanged branch makes its object a slow-path case whenever it is present.
      properties[name] = restrictToOutput(schema, output.properties?.[name]) ?? { not: {} };
    }
    return { ...input, properties };
  }
  return sameSchema(input, output) ? input : null;
}

function sameSchema(a: JsonSchema, b: JsonSchema): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
