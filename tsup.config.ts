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
  ...extra,
});

export default defineConfig([
  pkg('protocol', { index: 'index.ts' }),
  pkg('process', { index: 'index.ts' }),
  pkg('shell-daemon', { index: 'index.ts', cli: 'cli.ts' }),
  pkg('shell-client', { index: 'index.ts', cli: 'cli.ts' }),
]);
