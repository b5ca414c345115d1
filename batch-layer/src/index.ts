export * from './archive/index.ts';
export * from './compiler/index.ts';
export * from './batch/index.ts';
