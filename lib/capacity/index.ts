/** The capacity model (`npm run capacity`, docs/capacity.md). */
export * from './capacity';
