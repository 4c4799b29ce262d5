/**
 * Layering rules of this repository, checked by `npm test` (scripts/test.sh, step "dependency rules")
 * and by `npm run check:deps`. docs/architecture.md explains them.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles make the load order matter and a folder impossible to read alone.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'lambda-is-standalone',
      severity: 'error',
      comment: 'Lambda handlers are bundled on their own: they import nothing from the CDK app, the local stack or the benchmarks.',
      from: { path: '^lambda/' },
      to: { path: '^(lib|local|bench|bin|config)/' },
    },
    {
      name: 'lib-not-from-tools',
      severity: 'error',
      comment: 'The constructs never depend on the local stack, the benchmarks or the CLI entry points.',
      from: { path: '^lib/' },
      to: { path: '^(local|bench|bin)/' },
    },
    {
      name: 'local-not-from-bench',
      severity: 'error',
      comment: 'The local stack is used by the benchmarks, never the other way round.',
      from: { path: '^local/' },
      to: { path: '^bench/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing is a typo or a missing dependency.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|cdk\\.out|\\.cache|\\.local|docker|dsql-local|tools)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
