export * from './index-by-label.js';
export * from './labels.js';
export * from './selector.js';
export type { LabelSelector } from './wire.js';
