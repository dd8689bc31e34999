import { defineConfig } from 'vitest/config';
import { SummaryReporter } from './test/summary-reporter.ts';

export const config = defineConfig({
  // Self-imports of 'forge-harness' resolve to the sources, as examples are written for users.
  resolve: { conditions: ['forge-source'] },
  ssr: { resolve: { conditions: ['forge-source'], externalConditions: ['forge-source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default', new SummaryReporter()],
  },
});

// biome-ignore lint/style/noDefaultExport: vitest loads its config from the default export.
export default config;
