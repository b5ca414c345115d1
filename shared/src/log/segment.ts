import { crc32 } from 'node:zlib';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { LogRecord } from './types.ts';

/**
 * Segment files of one partition: `<base offset, 20 digits>.seg`, each a run of frames
 *
 *   u32 body length | u32 crc32(body) | body = f64 offset | f64 timestamp | i32 key length
 *   (-1: null key) | key bytes | value bytes
 *
 * (little endian). Length prefixes make any key or value safe; the CRC and the expected offset
 * tell a torn or half-visible tail from a record.
 */
const HEADER = 8;
const FIXED = 20;
const EXT = '.seg';

export function segmentName(base: number): string {
  return String(base).padStart(20, '0') + EXT;
}

/** Base offsets of a partition's segments, ascending; empty when it has none (yet). */
export async function listSegments(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names
    .filter((n) => n.endsWith(EXT))
    .map((n) => Number(n.slice(0, -EXT.length)))
    .sort((a, b) => a - b);
}

export function encodeFrames(records: Array<{ key: string | null; value: string }>, firstOffset: number, timestamp: number): Buffer {
  let total = 0;
  const sizes = new Array<number>(records.length * 2);
  records.forEach((r, i) => {
    const k = r.key === null ? 0 : Buffer.byteLength(r.key);
    const v = Buffer.byteLength(r.value);
    sizes[2 * i] = k;
    sizes[2 * i + 1] = v;
    total += HEADER + FIXED + k + v;
  });
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  records.forEach((r, i) => {
    const k = sizes[2 * i]!;
    const v = sizes[2 * i + 1]!;
    const body = pos + HEADER;
    buf.writeUInt32LE(FIXED + k + v, pos);
    buf.writeDoubleLE(firstOffset + i, body);
    buf.writeDoubleLE(timestamp, body + 8);
    buf.writeInt32LE(r.key === null ? -1 : k, body + 16);
    if (r.key !== null) buf.write(r.key, body + FIXED, k, 'utf8');
    buf.write(r.value, body + FIXED + k, v, 'utf8');
    const end = body + FIXED + k + v;
    buf.writeUInt32LE(crc32(buf.subarray(body, end)), pos + 4);
    pos = end;
  });
  return buf;
}

/**
 * Reads one partition's frames forward from an offset, across segments, tolerating a tail that is
 * still being written (by this or another process): it stops before any frame that is incomplete,
 * fails its CRC or does not carry the next offset, and tries again on the next call.
 */
export class SegmentCursor {
  private fh: FileHandle | null = null;
  private base = -1;
  private pos = 0;
  private buf = Buffer.allocUnsafe(1 << 20);
  /** The offset of the next frame in the file. */
  private fileOffset = 0;

  /** `next`: the first offset to return; earlier frames are skipped without decoding. */
  constructor(
    private readonly dir: string,
    public next: number,
    private readonly topic = '',
    private readonly partition = 0,
  ) {}

  /**
   * Up to `max` records from `next` on, none at or beyond `limit`. With `decode` false, only
   * advances (counting) and returns an empty list.
   */
  async read(max: number, limit = Infinity, decode = true): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    const wanted = { left: max };
    while (wanted.left > 0) {
      if (!(await this.ensureOpen())) break;
      if ((await this.parseChunk(out, wanted, limit, decode)) > 0) continue;
      if (this.fileOffset >= limit || !(await this.rollIfNextSegment())) break;
    }
    return out;
  }

  /** Advances to the end of what is readable now and returns the end offset. */
  async seekEnd(limit = Infinity): Promise<number> {
    await this.read(Infinity, limit, false);
    return this.fileOffset;
  }

  /** Byte position of the next frame in the current segment. */
  get bytePosition(): number {
    return this.pos;
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = null;
  }

  private async ensureOpen(): Promise<boolean> {
    if (this.fh) return true;
    const bases = await listSegments(this.dir);
    let base = -1;
    for (const b of bases) if (b <= this.next) base = b;
    if (base < 0) base = bases[0] ?? -1;
    if (base < 0) return false;
    await this.openSegment(base);
    return true;
  }

  private async openSegment(base: number): Promise<void> {
    await this.fh?.close();
    this.fh = await open(path.join(this.dir, segmentName(base)), 'r');
    this.base = base;
    this.pos = 0;
    this.fileOffset = base;
  }

  /** At the end of a segment: moves on when the writer has rolled to the next one. */
  private async rollIfNextSegment(): Promise<boolean> {
    const bases = await listSegments(this.dir);
    if (!bases.includes(this.fileOffset) || this.fileOffset === this.base) return false;
    await this.openSegment(this.fileOffset);
    return true;
  }

  /** Parses the frames in one read of the file; returns how many it passed (skipped or taken). */
  private async parseChunk(out: LogRecord[], wanted: { left: number }, limit: number, decode: boolean): Promise<number> {
    const fh = this.fh!;
    let { bytesRead } = await fh.read(this.buf, 0, this.buf.length, this.pos);
    let buf = this.buf;
    let at = 0;
    let count = 0;
    while (wanted.left > 0 && this.fileOffset < limit) {
      if (bytesRead - at < HEADER) break;
      const len = buf.readUInt32LE(at);
      if (bytesRead - at < HEADER + len) {
        if (at === 0 && HEADER + len > buf.length && len >= FIXED) {
          // A frame larger than the buffer: grow and re-read.
          this.buf = buf = Buffer.allocUnsafe(HEADER + len);
          ({ bytesRead } = await fh.read(buf, 0, buf.length, this.pos));
          continue;
        }
        break;
      }
      const body = at + HEADER;
      if (len < FIXED || buf.readDoubleLE(body) !== this.fileOffset) break;
      if (crc32(buf.subarray(body, body + len)) !== buf.readUInt32LE(at + 4)) break;
      if (this.fileOffset >= this.next) {
        if (decode) {
          const keyLen = buf.readInt32LE(body + 16);
          const valueStart = body + FIXED + Math.max(keyLen, 0);
          out.push({
            topic: this.topic,
            partition: this.partition,
            offset: this.fileOffset,
            timestamp: buf.readDoubleLE(body + 8),
            key: keyLen < 0 ? null : buf.toString('utf8', body + FIXED, valueStart),
            value: buf.toString('utf8', valueStart, body + len),
          });
        }
        this.next = this.fileOffset + 1;
        wanted.left--;
      }
      count++;
      this.fileOffset++;
      at = body + len;
    }
    this.pos += at;
    return count;
  }
}

/**
 * Scans the last segment and returns the byte length of its valid prefix and the offset after it:
 * where a writer resumes, truncating anything after (a torn record from a crash).
 */
export async function validPrefix(dir: string): Promise<{ base: number; bytes: number; end: number } | null> {
  const bases = await listSegments(dir);
  const base = bases[bases.length - 1];
  if (base === undefined) return null;
  // Starting past every offset keeps the cursor in the last segment and decodes nothing.
  const cursor = new SegmentCursor(dir, Infinity);
  try {
    const end = await cursor.seekEnd();
    return { base, bytes: cursor.bytePosition, end };
  } finally {
    await cursor.close();
  }
}
