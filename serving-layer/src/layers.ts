import type {
  BatchSourceAnswer,
  BatchViewSource,
  SpeedSourceAnswer,
  SpeedViewSource,
  ViewDefinition,
  ViewQuery,
} from '@lambda/shared';
import { fromDependency, unavailable } from './errors.ts';

/** The two layers' readers as the app was given them; either may be absent (an ingest-only server). */
export interface Sources {
  batch?: BatchViewSource | undefined;
  speed?: SpeedViewSource | undefined;
}

export function batchOf(sources: Sources): BatchViewSource {
  if (!sources.batch) throw unavailable('batch layer');
  return sources.batch;
}

export function speedOf(sources: Sources): SpeedViewSource {
  if (!sources.speed) throw unavailable('speed layer');
  return sources.speed;
}

export async function readBatch(sources: Sources, view: ViewDefinition, query: ViewQuery): Promise<BatchSourceAnswer> {
  const batch = batchOf(sources);
  return fromDependency('batch layer', () => batch.read(view, query));
}

export async function readSpeed(sources: Sources, view: ViewDefinition, query: ViewQuery): Promise<SpeedSourceAnswer> {
  const speed = speedOf(sources);
  return fromDependency('speed layer', () => speed.read(view, query));
}
