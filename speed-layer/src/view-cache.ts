import type { StateStore, ViewDefinition } from '@lambda/shared';
import { readLateCounts, readSpeedViewDetailed, type ReadOptions, type SpeedRows } from './reader.ts';
import { readProgress, type PartitionProgress } from './watermark.ts';

export interface SpeedAnswer extends SpeedRows {
  /** Late events of the view since the speed state began, by policy. */
  lateEvents: Record<string, number>;
}

/** Answers kept per view: enough for a dashboard's and an API's usual ranges. */
const MAX_ANSWERS_PER_VIEW = 256;

/**
 * Speed views for a long-running reader (the serving layer). The speed layer changes a view only
 * in a commit, and every commit moves its partition's offset: an answer read while the offsets
 * were X stays the answer while they are X. So each read first reads the offsets (one round trip),
 * and re-reads the view only when a batch was committed since the same query was last answered.
 * Offsets only grow, so an answer is never served after the state it was read from has changed.
 */
export class SpeedViewCache {
  private readonly answers = new WeakMap<ViewDefinition, Map<string, { offsets: string; answer: Promise<SpeedAnswer> }>>();
  private progressRead: { offsets: string; progress: Promise<PartitionProgress[]> } | null = null;

  constructor(private readonly store: StateStore) {}

  /** Every partition's max event time and last activity, the inputs of the layer watermark. */
  async progress(): Promise<PartitionProgress[]> {
    return this.progressAt(await this.offsets());
  }

  async read(view: ViewDefinition, opts: ReadOptions = {}): Promise<SpeedAnswer> {
    return this.answerAt(await this.offsets(), view, opts);
  }

  /** A view's answer and the watermark's inputs, both as of one read of the offsets. */
  async readWithProgress(view: ViewDefinition, opts: ReadOptions = {}): Promise<{ answer: SpeedAnswer; progress: PartitionProgress[] }> {
    const offsets = await this.offsets();
    const [answer, progress] = await Promise.all([this.answerAt(offsets, view, opts), this.progressAt(offsets)]);
    return { answer, progress };
  }

  private progressAt(offsets: string): Promise<PartitionProgress[]> {
    if (this.progressRead?.offsets !== offsets) {
      const progress = readProgress(this.store).then((m) => [...m.values()]);
      progress.catch(() => (this.progressRead = null));
      this.progressRead = { offsets, progress };
    }
    return this.progressRead.progress;
  }

  private answerAt(offsets: string, view: ViewDefinition, opts: ReadOptions): Promise<SpeedAnswer> {
    let byQuery = this.answers.get(view);
    if (!byQuery) this.answers.set(view, (byQuery = new Map()));
    const id = `${opts.from}|${opts.to}|${opts.key}`;
    const hit = byQuery.get(id);
    if (hit?.offsets === offsets) return hit.answer;
    const answer = Promise.all([readSpeedViewDetailed(this.store, view, opts), readLateCounts(this.store, view.name)]).then(
      ([rows, lateEvents]) => ({ ...rows, lateEvents }),
    );
    answer.catch(() => byQuery.delete(id));
    // Re-inserted at the end, so the first key is the least recently refreshed.
    byQuery.delete(id);
    byQuery.set(id, { offsets, answer });
    if (byQuery.size > MAX_ANSWERS_PER_VIEW) byQuery.delete(byQuery.keys().next().value!);
    return answer;
  }

  private async offsets(): Promise<string> {
    const partitions = await this.store.partitions();
    const stored = await this.store.offsets(partitions);
    return partitions.map((p) => `${p}:${stored.get(p)}`).join(',');
  }
}
