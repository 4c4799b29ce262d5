/**
 * Jest configuration. Every suite lives under test/<area>/. Suites that need servers
 * (dsql-local, OpenSearch) start them themselves in beforeAll and stop them in afterAll.
 * ts-jest transpiles each file on its own (tsconfig.json `isolatedModules`), without type checks:
 * `npm test` type-checks the whole repository once with `tsc --noEmit`.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.tsx?$': 'ts-jest',
  },
  testTimeout: 120000,
  maxWorkers: 2,
};
