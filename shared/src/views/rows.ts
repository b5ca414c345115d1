import type { ViewDefinition } from './definition.ts';

/**
 * One row of a view as either layer answers it: window_start and window_end (epoch ms), the key
 * column if any, then the view's columns. Integers are bigint so money sums stay exact past 2^53.
 */
export type ViewRow = Record<string, bigint | number | string | boolean | null>;

/** The output column holding the key, when a view's rows have one (open-session counts are not per key). */
export function keyColumnOf(view: ViewDefinition): string | null {
  return view.key && view.output.kind !== 'open_sessions' ? view.key : null;
}
