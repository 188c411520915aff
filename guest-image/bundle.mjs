#!/usr/bin/env node
// Builds the daemon bundle: one conchd file plus the native addons it loads, laid out to drop
// into any rootfs at PREFIX (default /opt/conch):
//   PREFIX/bin/conchd                 launcher (runs node on the bundle)
//   PREFIX/bin/conchd-service         conchd with /etc/conch/conchd.env and OOM protection
//   PREFIX/lib/conchd.mjs             conchd and every JS dependency, in one file
//   PREFIX/lib/native/pty.node        node-pty's addon (PTY sessions; conchd runs without it)
//   PREFIX/lib/native/vsock.node      our AF_VSOCK addon, when built
//   PREFIX/lib/native/posix_spawn.node  our fork-free spawner (conchd falls back to Node's spawn without it)
//   PREFIX/lib/native/conch-exec-as      switches commands run as another user (uid, gid, supplementary groups)
// Usage: node guest-image/bundle.mjs [OUTDIR]  (OUTDIR, default .cache/bundle, receives the PREFIX tree, e.g. OUTDIR/opt/conch)
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { build } from 'esbuild';

export const PREFIX = '/opt/conch';
const root = resolve(import.meta.dirname, '..');

/** @param {string} outDir @param {{ testBridge?: boolean }} [options] testBridge adds the reference image's vsock bridge and in-guest tests */
export async function bundle(outDir, options = {}) {
  const prefix = join(outDir, PREFIX);
  rmSync(prefix, { recursive: true, force: true });
  mkdirSync(join(prefix, 'bin'), { recursive: true });
  mkdirSync(join(prefix, 'lib/native'), { recursive: true });
  const common = {
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // Resolve our packages from source, like the tests do, so the bundle never depends on dist/.
    conditions: ['source'],
    // node-pty's native module is loaded from a file next to the bundle (see the launcher's
    // env); our vsock and posix-spawn addons' JavaScript is bundled and finds its .node the same way.
    external: ['node-pty'],
    // Bundled CommonJS dependencies call require(); ESM has none, so give them one.
    banner: { js: "import { createRequire as __conchCreateRequire } from 'node:module'; const require = __conchCreateRequire(import.meta.url);" },
    legalComments: 'none',
    logLevel: 'warning',
  };
  await build({ ...common, entryPoints: [join(root, 'packages/shell-daemon/src/cli.ts')], outfile: join(prefix, 'lib/conchd.mjs') });
  // The client CLI too: image builders and tests use it inside the guest (vsock loopback checks).
  await build({ ...common, entryPoints: [join(root, 'packages/shell-client/src/cli.ts')], outfile: join(prefix, 'lib/conch.mjs') });
  if (options.testBridge) {
    await build({ ...common, entryPoints: [join(import.meta.dirname, 'vsock-bridge.mjs')], outfile: join(prefix, 'lib/vsock-bridge.mjs') });
    // node-vsock's own tests run in the guest (they need a kernel with vsock loopback).
    await build({ ...common, entryPoints: [join(root, 'packages/node-vsock/test/guest/vsock-guest-test.mjs')], outfile: join(prefix, 'lib/test/vsock-guest-test.mjs') });
  }
  const natives = {
    'pty.node': join(root, 'node_modules/node-pty/build/Release/pty.node'),
    'vsock.node': join(root, 'packages/node-vsock/build/Release/vsock.node'),
    'posix_spawn.node': join(root, 'packages/posix-spawn/build/Release/posix_spawn.node'),
    'conch-exec-as': join(root, 'packages/posix-spawn/build/Release/conch-exec-as'),
  };
  for (const [name, from] of Object.entries(natives)) {
    if (existsSync(from)) copyFileSync(from, join(prefix, 'lib/native', name));
    else console.warn(`bundle: ${from} is missing; the bundle ships without ${name}`);
  }
  for (const name of ['conchd', 'conch']) {
    const launcher = join(prefix, 'bin', name);
    writeFileSync(
      launcher,
      `#!/bin/sh
# ${name} launcher: node from CONCH_NODE or PATH, native addons from next to the bundle.
here=$(dirname "$(readlink -f "$0")")/..
export CONCH_NODE_PTY="\${CONCH_NODE_PTY:-$here/lib/native/pty.node}"
export CONCH_VSOCK_ADDON="\${CONCH_VSOCK_ADDON:-$here/lib/native/vsock.node}"
export CONCH_POSIX_SPAWN_ADDON="\${CONCH_POSIX_SPAWN_ADDON:-$here/lib/native/posix_spawn.node}"
export CONCH_EXEC_AS="\${CONCH_EXEC_AS:-$here/lib/native/conch-exec-as}"
exec "\${CONCH_NODE:-node}" "$here/lib/${name}.mjs" "$@"
`,
    );
    chmodSync(launcher, 0o755);
  }
  // For inits without their own env-file and OOM settings (OpenRC, inittab, runit, s6).
  copyFileSync(join(import.meta.dirname, 'units/conchd-service'), join(prefix, 'bin/conchd-service'));
  chmodSync(join(prefix, 'bin/conchd-service'), 0o755);
  return prefix;
}

if (process.argv[1] === import.meta.filename) {
  // `npm run bundle` with no argument: somewhere gitignored, so a bare run leaves the tree clean.
  const out = process.argv[2] ?? join(root, '.cache/bundle');
  const prefix = await bundle(resolve(out));
  console.log(`bundle: ${prefix}`);
}
