import { defineConfig } from 'vitest/config';

// One vitest run over every workspace, so the last line of `npm test` carries the counts.
// Workspace packages resolve to their TypeScript sources through the "source" export condition.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'], externalConditions: ['source'] } },
  test: {
    include: ['services/*/test/**/*.test.ts', 'gateway/test/**/*.test.ts', 'prisma/test/**/*.test.ts', 'tests/**/*.test.ts'],
    globalSetup: ['services/test-support/src/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 3,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
