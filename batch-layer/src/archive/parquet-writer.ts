import { isUtf8 } from 'node:buffer';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { ARCHIVE_COLUMNS, MAX_EVENT_BYTES, archiveRoot, eventsArchiveDir, hivePartition, type LogRecord } from '@lambda/shared';
import { sqlString } from '../sql.ts';
import { fastCheckQuery, fastRowsQuery } from './fast-accept.ts';
import { ARCHIVE_SELECT, JSON_COLUMN_TYPES } from './json-columns.ts';
import { archiveFileName, fsyncPath, publish } from './files.ts';

const HOUR_MS = 3_600_000;

/** The records of one log partition taken by a flush. */
export interface PartitionSlice {
  partition: number;
  /** The offset range the flush covers (invalid records included), which names its files. */
  firstOffset: number;
  lastOffset: number;
  /** Records for DuckDB to check and parse. */
  framed: FramedFile;
  /** Events already validated in JavaScript, each an `archiveLine`. */
  validated: string[];
}

/** A framed record the fast path could not vouch for: JavaScript judges it. */
export interface Suspect {
  partition: number;
  offset: number;
  raw: string;
}

export interface WriteOptions {
  /** Events later than this (epoch ms) are never accepted by the fast path. */
  maxEventTimeMs: number;
  /** Called for each suspect before any file is written; may add to its slice's `validated`. */
  judge: (suspect: Suspect) => void;
}

export interface WrittenFile {
  path: string;
  partition: number;
  rows: number;
}

/** NDJSON line of one validated event, as the writer reads it back. */
export function archiveLine(canonicalEventJson: string, partition: number, offset: number): string {
  return `{"log_partition":${partition},"log_offset":${offset},${canonicalEventJson.slice(1)}`;
}

// The frame's separator is a control character, which strict JSON never contains unescaped.
const SEPARATOR = '\x01';
const SEPARATOR_BYTE = 0x01;
const NEWLINE_BYTE = 0x0a;
// Room for an offset's digits (at most 16 for a safe integer), the separator and the newline.
const FRAME_OVERHEAD = 18;

/**
 * Whether a record's bytes can go to DuckDB as one framed line: a one-line object of valid UTF-8
 * (DuckDB refuses the whole file otherwise) without escapes or control characters (so without
 * separators or newlines), within the event size limit. Others are judged in JavaScript straight
 * away, from their decoded text, as any record is.
 */
export function canFrame(bytes: Uint8Array): boolean {
  const n = bytes.length;
  if (n < 2 || n > MAX_EVENT_BYTES || bytes[0] !== 0x7b || bytes[n - 1] !== 0x7d) return false;
  let ascii = true;
  for (let i = 1; i < n - 1; i++) {
    const c = bytes[i]!;
    if (c < 0x20 || c === 0x5c) return false;
    if (c >= 0x80) ascii = false;
  }
  return ascii || isUtf8(bytes);
}

/**
 * One partition's framed records of one flush, appended batch by batch as they are read, so the
 * JavaScript heap never holds a flush's worth of them. A line is the record's offset, the
 * separator, and the record's bytes as fetched: nothing is decoded or re-encoded on the way.
 * Scratch only: durability comes from the Parquet files, and a crash leaves nothing here that a
 * restart reads.
 */
export class FramedFile {
  records = 0;
  private fd: number | null;
  private scratch = Buffer.allocUnsafe(1 << 20);

  constructor(
    readonly path: string,
    readonly partition: number,
  ) {
    this.fd = openSync(path, 'w');
  }

  /** Appends the records `canFrame` passes, in order; returns the others, for JavaScript to judge. */
  append(records: readonly LogRecord[]): LogRecord[] {
    if (this.fd === null) throw new Error(`${this.path} is closed`);
    const others: LogRecord[] = [];
    const values = records.map((r) => r.valueBytes ?? Buffer.from(r.value));
    const size = values.reduce((n, v) => n + v.length + FRAME_OVERHEAD, 0);
    if (this.scratch.length < size) this.scratch = Buffer.allocUnsafe(size);
    const out = this.scratch;
    let at = 0;
    for (let i = 0; i < records.length; i++) {
      const value = values[i]!;
      if (!canFrame(value)) {
        others.push(records[i]!);
        continue;
      }
      at = writeDigits(out, at, records[i]!.offset);
      out[at++] = SEPARATOR_BYTE;
      at += value.copy(out, at);
      out[at++] = NEWLINE_BYTE;
    }
    writeSync(this.fd, out, 0, at);
    this.records += records.length - others.length;
    return others;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  discard(): void {
    this.close();
    rmSync(this.path, { force: true });
  }
}

/** Writes a non-negative integer's decimal digits at `at`; returns the position after them. */
function writeDigits(out: Buffer, at: number, n: number): number {
  let end = at + 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) end++;
  let rest = n;
  for (let i = end - 1; i >= at; i--) {
    out[i] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return end;
}

const COLUMN_NAMES = ARCHIVE_COLUMNS.map(([name]) => name).join(', ');

/**
 * Turns the records of a flush into Parquet files with DuckDB. Records go to DuckDB as bytes in a
 * scratch file per partition, so checking and parsing them happens on DuckDB's thread, off the
 * JavaScript thread: the fast path (`fast-accept.ts`) accepts the plain valid events, and hands every other record back to
 * be judged by the schema in JavaScript. One COPY ... PARTITION_BY writes a file per (log partition,
 * hour) into a private staging directory (one statement measured 3x faster than a COPY per Hive
 * directory); each file is then fsync'd and renamed to its final name in its Hive directory, so a
 * file under a `*.parquet` name in the dataset is always complete.
 */
export class ParquetWriter {
  private readonly workDir: string;
  private files = 0;

  private constructor(
    private readonly dataDir: string,
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {
    this.workDir = path.join(archiveRoot(dataDir), '_work', `writer-${process.pid}`);
  }

  static async open(dataDir: string): Promise<ParquetWriter> {
    // DuckDB leaves a core to the JavaScript thread, which is busy fetching the next records while a
    // flush runs: on 2 cores, one DuckDB thread measured 8% faster than two.
    const instance = await DuckDBInstance.create(':memory:', { threads: String(Math.max(1, os.availableParallelism() - 1)) });
    const conn = await instance.connect();
    const writer = new ParquetWriter(dataDir, instance, conn);
    await rm(writer.workDir, { recursive: true, force: true });
    await mkdir(writer.workDir, { recursive: true });
    return writer;
  }

  /** A new scratch file for one partition's framed records, for a later `write`. */
  framedFile(partition: number): FramedFile {
    return new FramedFile(path.join(this.workDir, `framed-${++this.files}.txt`), partition);
  }

  /** Writes and publishes the files of one flush; resolves once they are durable and visible. */
  async write(slices: PartitionSlice[], opts: WriteOptions): Promise<WrittenFile[]> {
    const flushDir = path.join(this.workDir, `flush-${++this.files}`);
    const staging = path.join(flushDir, 'staging');
    await mkdir(staging, { recursive: true });
    try {
      const sources = [await this.checkFramed(slices, opts), await this.readValidated(slices, flushDir)].filter(
        (q) => q !== null,
      );
      if (sources.length === 0) return [];
      const written = await this.conn.runAndReadAll(
        `COPY (SELECT ${COLUMN_NAMES}, log_partition AS p, epoch_ms(event_time) // ${HOUR_MS} AS h
               FROM (${sources.join(' UNION ALL BY NAME ')}))
         TO ${sqlString(staging)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (p, h), RETURN_STATS true)`,
      );
      return await this.publishStaged(staging, slices, stagedCounts(written.getRows()));
    } finally {
      await this.conn.run('DROP TABLE IF EXISTS flush_records');
      for (const slice of slices) slice.framed.discard();
      await rm(flushDir, { recursive: true, force: true });
    }
  }

  /** Loads the framed records, judges the suspects, and returns the query of the accepted rows. */
  private async checkFramed(slices: PartitionSlice[], opts: WriteOptions): Promise<string | null> {
    const inputs = slices.map((s) => s.framed).filter((f) => f.records > 0);
    if (inputs.length === 0) return null;
    for (const f of inputs) f.close();
    const total = inputs.reduce((n, f) => n + f.records, 0);
    const read = inputs
      .map(
        (f) => `SELECT ${f.partition} AS p, o, raw FROM read_csv(${sqlString(f.path)}, columns = {'o': 'BIGINT', 'raw': 'VARCHAR'},
                  delim = '${SEPARATOR}', quote = '', escape = '', header = false, auto_detect = false)`,
      )
      .join(' UNION ALL ');
    // CREATE TABLE AS answers with the number of rows it stored.
    const created = await this.conn.runAndReadAll(`CREATE OR REPLACE TEMP TABLE flush_records AS ${fastCheckQuery(read, opts.maxEventTimeMs)}`);
    const loaded = Number(created.getRows()[0]![0]);
    if (loaded !== total) throw new Error(`DuckDB read ${loaded} of the flush's ${total} framed records`);
    const suspects = await this.conn.runAndReadAll('SELECT p, o, raw FROM flush_records WHERE NOT ok ORDER BY p, o');
    for (const [p, o, raw] of suspects.getRows()) opts.judge({ partition: Number(p), offset: Number(o), raw: String(raw) });
    return fastRowsQuery('SELECT * FROM flush_records');
  }

  private async readValidated(slices: PartitionSlice[], flushDir: string): Promise<string | null> {
    const lines = slices.flatMap((s) => s.validated);
    if (lines.length === 0) return null;
    const input = path.join(flushDir, 'validated.ndjson');
    await writeFile(input, lines.join('\n'));
    const columns = JSON_COLUMN_TYPES.map(([n, t]) => `${n}: '${t}'`).join(', ');
    return `SELECT ${ARCHIVE_SELECT} FROM read_json(${sqlString(input)}, format = 'newline_delimited', columns = {${columns}})`;
  }

  /** Moves each staged (partition, hour) file to its public name, and fsyncs the directories. */
  private async publishStaged(
    staging: string,
    slices: PartitionSlice[],
    counts: Array<{ partition: number; bucket: number; rows: number }>,
  ): Promise<WrittenFile[]> {
    const written: WrittenFile[] = [];
    const touchedDirs = new Set<string>();
    for (const { partition, bucket, rows } of counts) {
      const slice = slices.find((s) => s.partition === partition)!;
      const name = archiveFileName(partition, slice.firstOffset, slice.lastOffset);
      const staged = await this.singleStagedFile(path.join(staging, `p=${partition}`, `h=${bucket}`));
      const dir = await this.ensureHiveDir(bucket * HOUR_MS);
      await publish(staged, path.join(dir, name));
      touchedDirs.add(dir);
      written.push({ path: path.join(dir, name), partition, rows });
    }
    await Promise.all([...touchedDirs].map((d) => fsyncPath(d)));
    return written;
  }

  /** DuckDB may split a partition over several files; the archive keeps one per flush and hour. */
  private async singleStagedFile(dir: string): Promise<string> {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.parquet')).map((f) => path.join(dir, f));
    if (files.length === 1) return files[0]!;
    const merged = path.join(dir, 'merged.parquet.tmp');
    await this.conn.run(
      `COPY (SELECT * FROM read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = false))
       TO ${sqlString(merged)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    return merged;
  }

  private async ensureHiveDir(eventTimeMs: number): Promise<string> {
    const { dt, hour } = hivePartition(eventTimeMs);
    const root = eventsArchiveDir(this.dataDir);
    const dir = path.join(root, `dt=${dt}`, `hour=${hour}`);
    // A new directory is only durable once its parent is fsync'd too.
    if ((await mkdir(dir, { recursive: true })) !== undefined) {
      await fsyncPath(path.dirname(dir));
      await fsyncPath(root);
    }
    return dir;
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

/** Rows per staged (partition, hour) directory, from the statistics COPY returns per file written. */
function stagedCounts(stats: unknown[][]): Array<{ partition: number; bucket: number; rows: number }> {
  const byDir = new Map<string, { partition: number; bucket: number; rows: number }>();
  for (const [filename, count] of stats) {
    const dir = path.dirname(String(filename));
    const match = /p=(\d+)\/h=(-?\d+)$/.exec(dir);
    if (!match) throw new Error(`unexpected staged file ${String(filename)}`);
    const group = byDir.get(dir) ?? { partition: Number(match[1]), bucket: Number(match[2]), rows: 0 };
    group.rows += Number(count);
    byDir.set(dir, group);
  }
  return [...byDir.values()];
}
