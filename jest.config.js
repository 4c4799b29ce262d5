/**
 * Jest configuration. Every suite lives under test/<area>/. Suites that need servers
 * (dsql-local, OpenSearch) start them themselves in beforeAll and stop them in afterAll.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { isolatedModules: true }],
  },
  testTimeout: 120000,
  maxWorkers: 2,
};
