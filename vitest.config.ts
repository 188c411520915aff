import { defineConfig } from 'vitest/config';

// Packages are tested from source: the `source` export condition points at src/*.ts,
// so no build is needed between an edit and a test run.
const shared = {
  ssr: { resolve: { conditions: ['source'] } },
  resolve: { conditions: ['source'] },
};

export default defineConfig({
  ...shared,
  test: {
    projects: [
      { ...shared, test: { name: 'protocol', root: 'packages/protocol', include: ['test/**/*.test.ts'] } },
      { ...shared, test: { name: 'node-vsock', root: 'packages/node-vsock', include: ['test/**/*.test.ts'] } },
      { ...shared, test: { name: 'posix-spawn', root: 'packages/posix-spawn', include: ['test/**/*.test.ts'] } },
      { ...shared, test: { name: 'process', root: 'packages/process', include: ['test/**/*.test.ts'] } },
      { ...shared, test: { name: 'shell-daemon', root: 'packages/shell-daemon', include: ['test/**/*.test.ts'] } },
      { ...shared, test: { name: 'shell-client', root: 'packages/shell-client', include: ['test/**/*.test.ts'] } },
      { ...shared, test: { name: 'conformance', root: 'test', include: ['conformance/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 } },
      // The real VM: one boot per file, TCG on 2 cores; generous timeouts. One VM at a time:
      // two TCG guests on 2 cores starve each other.
      { ...shared, test: { name: 'e2e', root: 'test', include: ['e2e/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 300_000, fileParallelism: false } },
      { ...shared, test: { name: 'integration', root: 'test', include: ['daemon/**/*.test.ts', 'cli/**/*.test.ts', 'hardening/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 } },
    ],
  },
});
