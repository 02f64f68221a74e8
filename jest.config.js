/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/src'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    // secretlint's rules ship as ES modules only; Node >= 20.19 require()s them, Jest's
    // module loader does not (before Node 24.9), so Jest compiles that package to CommonJS.
    '^.+/node_modules/@secretlint/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!@secretlint/)'],
  // Tests share one real Redis and start real servers; keep the machine's two cores usable.
  maxWorkers: 2,
  testTimeout: 30000,
};
