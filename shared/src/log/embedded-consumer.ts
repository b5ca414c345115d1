import type { EmbeddedLog } from './embedded-log.ts';
import { Pending } from './pending.ts';
import type { SegmentCursor } from './segment.ts';
import type { ConsumeOptions, ConsumerHandle, Offsets } from './types.ts';

/**
 * The single member of a consumer group on the embedded log: every partition is assigned to it.
 * Batches are delivered one at a time, taking partitions in turn, as kafkajs does by default.
 */
export class EmbeddedConsumer implements ConsumerHandle {
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private rejectDone!: (e: unknown) => void;
  private readonly abort = new AbortController();
  private stopped = false;
  /** Commits not yet written: a consumer need not await them, and they land before the member stops. */
  private readonly commits = new Pending();

  constructor(
    private readonly log: EmbeddedLog,
    private readonly opts: ConsumeOptions,
    private readonly partitions: number,
    private readonly releaseLock: () => Promise<void>,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
  }

  start(): void {
    this.run().then(
      () => this.finish().then(this.resolveDone, this.rejectDone),
      (e: unknown) => this.finish().then(() => this.rejectDone(e), () => this.rejectDone(e)),
    );
  }

  commit(offsets: Offsets): Promise<void> {
    return this.commits.track(this.log.commit(this.opts.group, this.opts.topic, offsets));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.done.catch(() => undefined);
  }

  private cursors: SegmentCursor[] = [];

  private async run(): Promise<void> {
    const { topic, group } = this.opts;
    const all = Array.from({ length: this.partitions }, (_, p) => p);
    await this.opts.onAssignment?.(all);
    const given = (await this.opts.startOffsets?.(all)) ?? new Map<number, number>();
    const committed = await this.log.committedOffsets(group, topic);
    this.cursors = all.map((p) => this.log.cursor(topic, p, given.get(p) ?? committed.get(p) ?? 0));
    const ends = this.opts.untilEnd ? await this.log.endOffsets(topic) : null;
    const reached = (p: number) => ends !== null && this.cursors[p]!.next >= (ends.get(p) ?? 0);
    const max = this.opts.maxBatchRecords ?? 5000;
    let idle = false;
    while (!this.stopped) {
      let delivered = false;
      for (const p of all) {
        if (this.stopped) break;
        if (reached(p)) continue;
        const limit = Math.min(this.log.readLimit(topic, p), ends?.get(p) ?? Infinity);
        const records = await this.cursors[p]!.read(max, limit);
        if (records.length === 0) continue;
        delivered = true;
        idle = false;
        await this.opts.onBatch({ topic, partition: p, records });
      }
      if (ends && all.every(reached)) return;
      if (!delivered && !this.stopped) {
        if (!idle) {
          idle = true;
          await this.opts.onIdle?.();
        }
        await this.log.waitForAppend(topic, this.log.pollIntervalMs, this.abort.signal);
      }
    }
  }

  private async finish(): Promise<void> {
    this.stopped = true;
    await this.commits.settled();
    await Promise.allSettled(this.cursors.map((c) => c.close()));
    await this.releaseLock();
  }
}
