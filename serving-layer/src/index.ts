export * from './app.ts';
export * from './ndjson.ts';
export { answerView, type ViewAnswer } from './answer.ts';
export { jsonRow, jsonValue } from './json.ts';
export type { DriftJson } from './routes/drift.ts';
export type { Layer } from './merge.ts';
export { resolveRange } from './range.ts';
export { DEFAULT_INGEST_LIMITS, type IngestLimits } from './routes/ingest.ts';
