import { defineConfig, type Options } from 'tsup';

// One build for the whole monorepo: each package gets ESM + CJS + .d.ts next to its own
// package.json, so the `exports` maps resolve without any per-package tooling.
const pkg = (dir: string, entry: Record<string, string>, extra: Options = {}): Options => ({
  entry: Object.fromEntries(Object.entries(entry).map(([name, file]) => [name, `packages/${dir}/src/${file}`])),
  outDir: `packages/${dir}/dist`,
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  tsconfig: 'tsconfig.base.json',
  // Every package builds in one parallel run from the root, so a sibling's dist may not exist
  // yet, and the root package.json lists no dependencies for tsup to externalise: keep every
  // bare import (siblings, node-pty, msgpack) as an import, resolved at run time.
  skipNodeModulesBundle: true,
  ...extra,
});

/**
 * Build stages in dependency order. A package's .d.ts build reads its siblings' emitted .d.ts,
 * and tsup runs every config of one invocation in parallel (cleaning dist as it starts), so
 * scripts/build.mjs runs one tsup per stage: CONCH_BUILD_STAGE selects it.
 */
const stages: Options[][] = [
  [pkg('protocol', { index: 'index.ts' }), pkg('node-vsock', { index: 'index.ts' }), pkg('posix-spawn', { index: 'index.ts' })],
  [pkg('process', { index: 'index.ts' })],
  [pkg('shell-daemon', { index: 'index.ts', cli: 'cli.ts' }), pkg('shell-client', { index: 'index.ts', cli: 'cli.ts' })],
];

const stage = process.env.CONCH_BUILD_STAGE;
export default defineConfig(stage === undefined ? stages.flat() : (stages[Number(stage)] ?? []));
