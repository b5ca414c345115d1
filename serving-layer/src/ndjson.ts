import type { RawEvent } from '@lambda/shared';

/**
 * One NDJSON line as the ingest edge receives it. A line that does not parse is kept, verbatim, so
 * that it can go to the dead-letter topic with the parser's reason instead of failing its batch.
 */
export function parseLine(line: string): RawEvent {
  try {
    return { value: JSON.parse(line), bytes: Buffer.byteLength(line) };
  } catch (err) {
    return { unparsable: line, error: (err as Error).message };
  }
}

/** Strips the `\r` of CRLF line ends; blank lines carry no event. */
export function trimLine(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

export interface NdjsonEvents {
  raws: RawEvent[];
  /** 1-based line number of each event in `raws`. */
  lines: number[];
}

/** Splits an NDJSON body into events; `null` when it holds more than `maxEvents`. */
export function parseNdjson(text: string, maxEvents: number): NdjsonEvents | null {
  const raws: RawEvent[] = [];
  const lines: number[] = [];
  let lineNo = 0;
  for (const rawLine of text.split('\n')) {
    lineNo++;
    const line = trimLine(rawLine);
    if (line.trim() === '') continue;
    if (raws.length === maxEvents) return null;
    raws.push(parseLine(line));
    lines.push(lineNo);
  }
  return { raws, lines };
}
