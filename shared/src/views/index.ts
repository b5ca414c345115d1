export * from './columns.ts';
export * from './definition.ts';
export * from './filter.ts';
export * from './windows.ts';
export * from './workload.ts';
export * from './rows.ts';
