export * from './app.ts';
export * from './ndjson.ts';
export { DEFAULT_INGEST_LIMITS, type IngestLimits } from './routes/ingest.ts';
