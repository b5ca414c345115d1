import { Ajv2020 } from 'ajv/dist/2020.js';
import type { Event } from './schema.ts';
import { unchangedEventBranches } from './unchanged-schema.ts';

// Lengths count code points (ajv's default) and patterns compile without the u flag, both as zod
// does: the compiled check must never be more lenient than zod.
const ajv = new Ajv2020({ unicodeRegExp: false, discriminator: true, strict: false });
const check = ajv.compile({
  type: 'object',
  required: ['type'],
  discriminator: { propertyName: 'type' },
  oneOf: unchangedEventBranches(),
});

/**
 * Whether `value` is an event the schema accepts and returns exactly as given (epoch-ms time, no
 * unknown keys): then it is its own validated event, and zod, which allocates a checked copy and
 * costs several times more, can be skipped. Anything else goes to zod, which decides and explains.
 */
export function isPlainValidEvent(value: unknown): value is Event {
  return check(value);
}
