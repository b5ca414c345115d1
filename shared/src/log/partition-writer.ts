import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.ts';
import { coalescer } from './coalescer.ts';
import { fsyncDir } from './files.ts';
import { encodeFrames, segmentName, validPrefix } from './segment.ts';
import type { ProduceRecord } from './types.ts';

type Appendable = Pick<ProduceRecord, 'key' | 'value'>;

/**
 * The appending end of one partition, in the process that holds the log's writer lock. Appends
 * that arrive while one is being written are coalesced into the next write, so each write and
 * fdatasync serves every caller waiting at that moment.
 */
export class PartitionWriter {
  /** The offset after the last record known durable: readers in this process stop there. */
  durableEnd: number;
  private broken: Error | null = null;
  readonly append: (records: Appendable[]) => Promise<void>;

  private constructor(
    private readonly dir: string,
    private fh: FileHandle,
    private size: number,
    private readonly segmentBytes: number,
    private readonly onDurable: () => void,
  ) {
    this.durableEnd = 0;
    this.append = coalescer((records) => this.write(records));
  }

  static async open(dir: string, segmentBytes: number, logger: Logger | undefined, onDurable: () => void): Promise<PartitionWriter> {
    await mkdir(dir, { recursive: true });
    const tail = await validPrefix(dir);
    const base = tail?.base ?? 0;
    const fh = await open(path.join(dir, segmentName(base)), 'a');
    const { size } = await fh.stat();
    const valid = tail?.bytes ?? 0;
    if (size > valid) {
      logger?.warn({ dir, segment: base, bytes: size - valid }, 'truncating a torn tail left by a crash');
      await fh.truncate(valid);
      await fh.datasync();
    }
    if (!tail) await fsyncDir(dir);
    const writer = new PartitionWriter(dir, fh, valid, segmentBytes, onDurable);
    writer.durableEnd = tail?.end ?? 0;
    return writer;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  private async write(records: Appendable[]): Promise<void> {
    if (this.broken) throw this.broken;
    if (this.size > 0 && this.size >= this.segmentBytes) await this.roll();
    const buf = encodeFrames(records, this.durableEnd, Date.now());
    try {
      for (let at = 0; at < buf.length; ) at += (await this.fh.write(buf, at, buf.length - at)).bytesWritten;
      await this.fh.datasync();
    } catch (e) {
      // Take back a partial write, so that the next append lands where its offsets say.
      await this.fh.truncate(this.size).catch((t: Error) => (this.broken = t));
      throw e;
    }
    this.size += buf.length;
    this.durableEnd += records.length;
    this.onDurable();
  }

  private async roll(): Promise<void> {
    const next = await open(path.join(this.dir, segmentName(this.durableEnd)), 'a');
    await fsyncDir(this.dir);
    await this.fh.close();
    this.fh = next;
    this.size = 0;
  }
}
