export * from './memory-store.ts';
export * from './open.ts';
export * from './redis-store.ts';
export * from './types.ts';
