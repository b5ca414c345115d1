import {
  TOPICS,
  deadLetterValue,
  deadLetters,
  validateEvent,
  withRawSize,
  type ConsumerHandle,
  type EventLog,
  type Logger,
  type Offsets,
  type ProduceRecord,
  type RecordBatch,
  type Rejection,
} from '@lambda/shared';
import { removeOrphans } from './files.ts';
import { ParquetWriter, archiveLine, type PartitionSlice, type WrittenFile } from './parquet-writer.ts';
import { nextOffsetsOf, readProgress, writeProgress, type ArchiveProgress } from './progress.ts';

export const ARCHIVER_GROUP = 'archiver';
export const DEFAULT_FLUSH_RECORDS = 200_000;
export const DEFAULT_FLUSH_INTERVAL_MS = 10_000;
/**
 * The edge already rejected far-future events against its own clock; the archiver re-validates only
 * to keep foreign producers' garbage out, so its skew is wide enough that clock differences between
 * hosts never turn an accepted event into a dead letter.
 */
export const DEFAULT_ARCHIVER_SKEW_MS = 24 * 3_600_000;
/**
 * 8 MiB fetches: the DuckDB flush of earlier records waits for the JavaScript thread at each step,
 * and kafkajs holds that thread for a whole fetch. Measured 217k events/s with 64 MiB fetches,
 * 270-290k with 16 MiB and 295-338k with 8 MiB (bench/RESULTS.md).
 */
export const ARCHIVER_FETCH_BYTES = 8 << 20;

export interface ArchiverOptions {
  log: EventLog;
  dataDir: string;
  /** Drain up to the end offsets seen at start, flush, commit and finish. */
  once?: boolean;
  flushRecords?: number;
  flushIntervalMs?: number;
  maxFutureSkewMs?: number;
  logger?: Logger;
  /** Called after every flush, with the running totals. */
  onFlush?: (stats: ArchiverStats) => void;
  /** Called when every assigned partition has been read to its end, with the records not yet flushed. */
  onCaughtUp?: (stats: ArchiverStats, buffered: number) => void;
}

export interface ArchiverStats {
  /** Records read from the log (valid and invalid). */
  records: number;
  archived: number;
  deadLettered: number;
  files: number;
  flushes: number;
}

export interface RunningArchiver {
  /** Finishes the batch in flight, flushes, records progress, commits and stops. */
  stop(): Promise<ArchiverStats>;
  /** Resolves when the archiver has stopped (after `stop()`, or after the drain with `once`). */
  readonly done: Promise<ArchiverStats>;
}

interface PartitionBuffer extends PartitionSlice {
  deadLetters: ProduceRecord[];
}

/**
 * The archiver: consumes `events`, validates each record, buffers per log partition, and flushes to
 * immutable Parquet files. Resumes from the archive's progress file, never from the group's offsets,
 * so that a crash at any moment loses nothing and duplicates nothing.
 */
export async function startArchiver(opts: ArchiverOptions): Promise<RunningArchiver> {
  const archiver = new Archiver(opts, await readProgress(opts.dataDir), await ParquetWriter.open(opts.dataDir));
  try {
    await archiver.start();
  } catch (err) {
    archiver.closeWriter();
    throw err;
  }
  return archiver;
}

class Archiver implements RunningArchiver {
  readonly done: Promise<ArchiverStats>;
  private resolveDone!: (s: ArchiverStats) => void;
  private rejectDone!: (e: unknown) => void;
  private handle: ConsumerHandle | null = null;
  private buffers = new Map<number, PartitionBuffer>();
  private buffered = 0;
  private flushChain: Promise<void> = Promise.resolve();
  private flushesQueued = 0;
  private stopping: Promise<ArchiverStats> | null = null;
  private failure: unknown = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly stats: ArchiverStats = { records: 0, archived: 0, deadLettered: 0, files: 0, flushes: 0 };
  private readonly flushRecords: number;
  private readonly skewMs: number;

  constructor(
    private readonly opts: ArchiverOptions,
    private progress: ArchiveProgress,
    private readonly writer: ParquetWriter,
  ) {
    this.flushRecords = opts.flushRecords ?? DEFAULT_FLUSH_RECORDS;
    this.skewMs = opts.maxFutureSkewMs ?? DEFAULT_ARCHIVER_SKEW_MS;
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // A failure is reported through `done`; keep it from surfacing as an unhandled rejection too.
    this.done.catch(() => undefined);
  }

  async start(): Promise<void> {
    const { log } = this.opts;
    await this.checkProgressAgainstLog();
    this.handle = await log.consume({
      group: ARCHIVER_GROUP,
      topic: TOPICS.events,
      untilEnd: this.opts.once === true,
      maxBatchRecords: Math.min(this.flushRecords, 10_000),
      fetchBytes: ARCHIVER_FETCH_BYTES,
      startOffsets: (partitions) => this.resumeOffsets(partitions),
      onAssignment: () => this.dropBuffers(),
      onBatch: (batch) => this.onBatch(batch),
      onIdle: () => this.opts.onCaughtUp?.({ ...this.stats }, this.buffered),
    });
    if (this.opts.once) {
      this.handle.done.then(
        () => void this.stop(),
        (err: unknown) => this.fail(err),
      );
    } else {
      this.handle.done.catch((err: unknown) => this.fail(err));
      const interval = this.opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
      this.timer = setInterval(() => {
        // A failed flush is reported through `done`.
        if (this.buffered > 0 && this.flushesQueued === 0) this.startFlush().catch(() => undefined);
      }, interval);
    }
  }

  stop(): Promise<ArchiverStats> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  closeWriter(): void {
    for (const b of this.buffers.values()) b.framed.discard();
    this.writer.close();
  }

  private async shutdown(): Promise<ArchiverStats> {
    if (this.timer) clearInterval(this.timer);
    try {
      // Flush while the consumer is still a group member, so the commit is accepted.
      await this.startFlush();
      await this.flushChain;
      await this.handle?.stop();
      this.closeWriter();
      this.resolveDone({ ...this.stats });
    } catch (err) {
      this.fail(err);
    }
    return this.done;
  }

  private fail(err: unknown): void {
    if (this.failure !== null) return;
    this.failure = err;
    if (this.timer) clearInterval(this.timer);
    this.opts.logger?.error({ err }, 'archiver failed');
    void this.handle
      ?.stop()
      .catch(() => undefined)
      .finally(() => {
        this.closeWriter();
        this.rejectDone(err);
      });
  }

  /** An archive ahead of its log belongs to another log: refuse rather than silently skip records. */
  private async checkProgressAgainstLog(): Promise<void> {
    const ends = await this.opts.log.endOffsets(TOPICS.events);
    for (const [partition, next] of nextOffsetsOf(this.progress)) {
      const end = ends.get(partition) ?? 0;
      if (next > end) {
        throw new Error(
          `the archive has read partition ${partition} of '${TOPICS.events}' up to offset ${next}, ` +
            `but the log ends at ${end}: this archive was written from another log`,
        );
      }
    }
  }

  private async resumeOffsets(partitions: number[]): Promise<Offsets> {
    await this.flushChain;
    const next = nextOffsetsOf(this.progress);
    const removed = await removeOrphans(this.opts.dataDir, next, partitions);
    if (removed.length > 0) this.opts.logger?.info({ removed }, 'removed files of an unrecorded flush');
    return new Map(partitions.map((p) => [p, next.get(p) ?? 0]));
  }

  /**
   * Every buffered record is dropped at a new assignment, of the partitions kept as much as of those
   * taken away: the consumer resumes each partition from the progress file, so whatever is buffered
   * past it is read again, by this archiver or by the partition's new owner.
   */
  private dropBuffers(): void {
    for (const buf of this.buffers.values()) buf.framed.discard();
    this.buffers = new Map();
    this.buffered = 0;
  }

  private async onBatch(batch: RecordBatch): Promise<void> {
    if (this.failure !== null) throw this.failure;
    // Once stopping, records are left unread: the progress does not cover them, so they are read again.
    if (this.stopping !== null || batch.records.length === 0) return;
    const buf = this.bufferFor(batch.partition, batch.records[0]!.offset);
    const now = Date.now();
    for (const record of buf.framed.append(batch.records)) this.judge(buf, record.offset, record.value, now);
    buf.lastOffset = batch.records[batch.records.length - 1]!.offset;
    this.stats.records += batch.records.length;
    this.buffered += batch.records.length;
    if (this.buffered >= this.flushRecords) await this.startFlush();
  }

  private bufferFor(partition: number, firstOffset: number): PartitionBuffer {
    let buf = this.buffers.get(partition);
    if (!buf) {
      buf = { partition, firstOffset, lastOffset: firstOffset - 1, framed: this.writer.framedFile(partition), validated: [], deadLetters: [] };
      this.buffers.set(partition, buf);
    }
    return buf;
  }

  /** The schema's verdict on one record the fast path does not cover: archived, or dead-lettered. */
  private judge(buf: PartitionBuffer, offset: number, text: string, now: number): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.deadLetter(buf, offset, { field: '(event)', reason: `malformed JSON: ${(err as Error).message}` }, text, now);
      return;
    }
    const v = validateEvent(value, withRawSize({ now, maxFutureSkewMs: this.skewMs }, text));
    if (!v.ok) {
      this.deadLetter(buf, offset, v.rejection, value, now);
      return;
    }
    // Re-serialised, so the writer reads the normalised event (epoch-ms time), whatever the producer sent.
    buf.validated.push(archiveLine(JSON.stringify(v.event), buf.partition, offset));
  }

  private deadLetter(buf: PartitionBuffer, offset: number, rejection: Rejection, raw: unknown, now: number): void {
    // The key names where the record sat in the log, for whoever investigates the dead letter.
    buf.deadLetters.push({
      key: `${TOPICS.events}/${buf.partition}/${offset}`,
      value: deadLetterValue(rejection, 'archiver', now, raw),
    });
    deadLetters.inc({ component: 'archiver', field: rejection.field });
  }

  /**
   * Hands the buffers to a new flush queued behind the one in flight and resolves when that previous
   * flush is done: parsing the next records overlaps with DuckDB writing the last ones, and at most
   * two flushes' worth of records are held.
   */
  private startFlush(): Promise<void> {
    const taken = [...this.buffers.values()];
    this.buffers = new Map();
    this.buffered = 0;
    const previous = this.flushChain;
    if (taken.length === 0) return previous;
    this.flushesQueued++;
    this.flushChain = previous.then(async () => {
      try {
        await this.flush(taken);
      } catch (err) {
        this.fail(err);
        throw err;
      } finally {
        this.flushesQueued--;
      }
    });
    this.flushChain.catch(() => undefined);
    return previous;
  }

  private async flush(taken: PartitionBuffer[]): Promise<void> {
    const now = Date.now();
    const byPartition = new Map(taken.map((b) => [b.partition, b]));
    const files = await this.writer.write(taken, {
      maxEventTimeMs: now + this.skewMs,
      judge: (s) => this.judge(byPartition.get(s.partition)!, s.offset, s.raw, now),
    });
    const dead = taken.flatMap((b) => b.deadLetters);
    if (dead.length > 0) await this.opts.log.produce(TOPICS.dlq, dead);
    // Only now, with every file durable and visible and the dead letters written, may progress move.
    const progress = structuredClone(this.progress);
    const commit: Offsets = new Map();
    for (const b of taken) {
      const key = String(b.partition);
      progress.nextOffsets[key] = b.lastOffset + 1;
      progress.archived[key] = (progress.archived[key] ?? 0) + rowsOf(files, b.partition);
      progress.deadLettered[key] = (progress.deadLettered[key] ?? 0) + b.deadLetters.length;
      commit.set(b.partition, b.lastOffset + 1);
    }
    progress.updatedAt = new Date().toISOString();
    await writeProgress(this.opts.dataDir, progress);
    this.progress = progress;
    try {
      await this.handle?.commit(commit);
    } catch (err) {
      // The progress file is the source of truth; the group's offsets only trail it for monitoring.
      this.opts.logger?.warn({ err }, 'could not commit the archiver group offsets');
    }
    this.stats.flushes++;
    this.stats.files += files.length;
    this.stats.archived += files.reduce((n, f) => n + f.rows, 0);
    this.stats.deadLettered += dead.length;
    this.opts.onFlush?.({ ...this.stats });
  }
}

function rowsOf(files: WrittenFile[], partition: number): number {
  return files.reduce((n, f) => (f.partition === partition ? n + f.rows : n), 0);
}
