export * from './allocator.js';
export * from './endpoint-labels.js';
export * from './reserved.js';
