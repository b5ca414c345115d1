import { createHash } from 'node:crypto';
import { sessionSpecOf, type Aggregate, type ViewDefinition } from '@lambda/shared';
import type { CompiledAggregate, CompiledView } from './compile.ts';

/**
 * Session views whose sessions are the same keep one session state. Sessions are the same when the
 * views sessionize the same events the same way (`sessionSpecOf`: input, key, gap) and take the
 * same events into them: same time domain, watermark lag, allowed lateness and late policy. The
 * workload's `active_users` and `sessions` are such a pair; before, each kept (and every batch
 * decoded, merged, encoded and wrote) its own copy of every user's sessions.
 *
 * The state's name comes from that spec alone, and a session holds one partial per distinct
 * aggregate signature, so a reader finds its view's sessions and partials from the view alone.
 */

export interface SessionGroup {
  /** The state's name in the store (`KEYS.sessions`). */
  state: string;
  views: CompiledView[];
  /** The first member: its input, key, window and lateness are every member's. */
  lead: CompiledView;
  /** Every member's aggregates, one per signature: a session's partials, in this order. */
  aggregates: CompiledAggregate[];
  /** Their definitions, as session merging takes them, kept so that no event maps them again. */
  aggregateDefs: Aggregate[];
  gapMs: number;
  /** How long after its end a session still matters: an open_sessions member counts it in one more output window. */
  retainMs: number;
}

/** The name of a session view's state: views with the same name share their sessions. */
export function sessionStateOf(def: ViewDefinition): string | null {
  const spec = sessionSpecOf(def);
  if (spec === null) return null;
  const full = JSON.stringify([spec, def.timeDomain, def.watermarkLagMs, def.allowedLatenessMs, def.latePolicy]);
  return createHash('sha256').update(full).digest('hex').slice(0, 12);
}

/** The session views of a list, grouped by shared state, in the order of their first member. */
export function sessionGroups(views: readonly CompiledView[]): SessionGroup[] {
  const groups = new Map<string, SessionGroup>();
  for (const v of views) {
    const state = v.sessionState;
    if (state === null) continue;
    let g = groups.get(state);
    if (!g) {
      g = { state, views: [], lead: v, aggregates: [], aggregateDefs: [], gapMs: (v.def.window as { gapMs: number }).gapMs, retainMs: 0 };
      groups.set(state, g);
    }
    g.views.push(v);
    for (const a of v.aggregates) {
      if (g.aggregates.some((b) => b.signature === a.signature)) continue;
      g.aggregates.push(a);
      g.aggregateDefs.push(a.def);
    }
    if (v.def.output.kind === 'open_sessions') g.retainMs = Math.max(g.retainMs, v.def.output.sizeMs);
  }
  return [...groups.values()];
}
