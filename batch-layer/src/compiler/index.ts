export * from './compile-view.ts';
