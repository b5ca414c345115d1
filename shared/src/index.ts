export * from './archive-layout.ts';
export * from './config.ts';
export * from './events/ingest.ts';
export * from './events/schema.ts';
export * from './events/validate.ts';
export * from './log/types.ts';
export * from './logger.ts';
export * from './metrics.ts';
