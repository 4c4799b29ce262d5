/** The capacity model (`npm run capacity`, docs/capacity.md), its multi-Region variant and the monthly cost estimate. */
export * from './capacity';
export * from './multi-region';
export * from './cost';
export * from './prices';
