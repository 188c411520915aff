#!/usr/bin/env node
// Builds the reference guest image from the repo alone (npm and Debian registries only):
// a Debian cloud kernel (downloaded with apt, never installed on the host), the modules it needs
// for virtio-serial and vsock, tini as PID 1, the host's node with its libraries, busybox, and
// the conchd bundle, packed as an lz4 (legacy format) initramfs.
// Cached under .cache/guest-image/<hash of inputs>/, so a repeat run is instant.
//   node guest-image/build-image.mjs [--init tini|inittab|systemd|openrc]     prints the image directory
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { bundle } from './bundle.mjs';
import { assembleDebianRootfs } from './debian-rootfs.mjs';

const root = resolve(import.meta.dirname, '..');
const CACHE = join(root, '.cache/guest-image');
/** Kernel modules the image loads, in dependency order after resolution (built-ins are skipped). */
const WANTED_MODULES = ['virtio_pci', 'virtio_console', 'vsock_loopback', 'vmw_vsock_virtio_transport', 'virtio_net'];

const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
const log = (msg) => process.stderr.write(`build-image: ${msg}\n`);

/** The concrete kernel package behind the cloud meta-package, e.g. linux-image-6.1.0-56-cloud-amd64. */
function kernelPackage() {
  let out = '';
  try {
    out = sh('apt-cache', ['depends', 'linux-image-cloud-amd64']);
  } catch {
    // No package lists yet on a fresh machine.
  }
  let match = /Depends: (linux-image-[^\s]+-cloud-amd64)/.exec(out);
  if (!match) {
    log('refreshing apt package lists');
    sh('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    match = /Depends: (linux-image-[^\s]+-cloud-amd64)/.exec(sh('apt-cache', ['depends', 'linux-image-cloud-amd64']));
  }
  if (!match) throw new Error('cannot find the Debian cloud kernel package (apt-cache depends linux-image-cloud-amd64)');
  return match[1];
}

function which(name) {
  return sh('sh', ['-c', `command -v ${name}`]).trim();
}

/** Shared libraries a binary loads, by absolute path (ldd's view). */
function libraries(binary) {
  const out = sh('ldd', [binary]);
  return [...out.matchAll(/(\/[^\s]+\.so[^\s]*)/g)].map((m) => m[1]);
}

/** Files whose content decides the image, for the cache key. */
function inputsHash(init, kernel, bundleDir, programs) {
  const hash = createHash('sha256');
  hash.update(`${init}\0${kernel}`);
  const here = import.meta.dirname;
  for (const file of [...walk(bundleDir), ...walk(join(here, 'rootfs')), ...walk(join(here, 'units')), join(here, 'install.sh'), join(here, 'debian-rootfs.mjs'), import.meta.filename]) {
    hash.update(file.replace(bundleDir, '')).update(readFileSync(file));
  }
  // Large binaries are keyed by identity, not content: hashing 100 MB of node each run is waste.
  for (const program of programs) {
    const st = statSync(program);
    hash.update(`${program}:${st.size}:${st.mtimeMs}`);
  }
  return hash.digest('hex').slice(0, 16);
}

function walk(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

function copyInto(rootfs, file, as = file) {
  const target = join(rootfs, as);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
  chmodSync(target, statSync(file).mode & 0o777);
}

/** Module file paths for WANTED_MODULES and their dependencies, dependencies first. */
function resolveModules(moduleRoot) {
  const files = new Map();
  for (const file of walkKo(moduleRoot)) files.set(basename(file, '.ko').replace(/-/g, '_'), file);
  const builtin = new Set(
    (existsSync(join(moduleRoot, 'modules.builtin')) ? readFileSync(join(moduleRoot, 'modules.builtin'), 'utf8') : '')
      .split('\n').filter(Boolean).map((line) => basename(line, '.ko').replace(/-/g, '_')),
  );
  const order = [];
  const visit = (name, from) => {
    const key = name.replace(/-/g, '_');
    if (order.some((m) => m.name === key) || builtin.has(key)) return;
    const file = files.get(key);
    if (!file) throw new Error(`module ${key} (needed by ${from}) is neither built in nor in ${moduleRoot}`);
    const depends = sh('modinfo', ['-F', 'depends', file]).trim();
    for (const dep of depends.split(',').filter(Boolean)) visit(dep, key);
    order.push({ name: key, file });
  };
  for (const name of WANTED_MODULES) visit(name, 'the image');
  return order;
}

function walkKo(dir) {
  return walk(dir).filter((f) => f.endsWith('.ko'));
}

/** The tini and inittab variants: a hand-assembled busybox rootfs. */
function assembleBusyboxRootfs({ rootfs, init, here, busybox, tini, node, modules, bundleDir }) {
  for (const dir of ['bin', 'sbin', 'etc/conch', 'proc', 'sys', 'dev', 'tmp', 'run', 'root', 'lib/modules', 'usr/bin']) {
    mkdirSync(join(rootfs, dir), { recursive: true });
  }
  copyInto(rootfs, busybox, '/bin/busybox');
  copyInto(rootfs, tini, '/sbin/tini');
  copyInto(rootfs, node, '/usr/bin/node');
  for (const lib of new Set([...libraries(node), ...(tini.endsWith('static') ? [] : libraries(tini))])) copyInto(rootfs, lib);
  for (const { name, file } of modules) copyFileSync(file, join(rootfs, 'lib/modules', `${name}.ko`));
  writeFileSync(join(rootfs, 'lib/modules/load-order'), `${modules.map((m) => m.name).join('\n')}\n`);
  copyInto(rootfs, join(here, 'setup'), '/etc/conch/setup');
  copyInto(rootfs, join(here, 'conchd.env'), '/etc/conch/conchd.env');
  symlinkSync('busybox', join(rootfs, 'bin/sh'));
  if (init === 'tini') {
    copyInto(rootfs, join(here, 'init'), '/init');
    copyInto(rootfs, join(here, 'supervise'), '/etc/conch/supervise');
    // git keeps the executable bit, but a checkout with core.fileMode=false would not.
    chmodSync(join(rootfs, 'init'), 0o755);
    sh('cp', ['-a', join(bundleDir, 'opt'), rootfs]);
  } else {
    // busybox init runs as /init (the kernel's choice) and is /sbin/init (install.sh's cue).
    symlinkSync('bin/busybox', join(rootfs, 'init'));
    symlinkSync('../bin/busybox', join(rootfs, 'sbin/init'));
    copyInto(rootfs, join(here, 'rcS'), '/etc/init.d/rcS');
    chmodSync(join(rootfs, 'etc/init.d/rcS'), 0o755);
    sh(join(import.meta.dirname, 'install.sh'), [rootfs, '--init', 'inittab', '--bundle', bundleDir]);
  }
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/** The guest inits an image can be built with (buildImage's `init`). */
export const INITS = ['tini', 'inittab', 'systemd', 'openrc'];

/**
 * @param {{ init?: 'tini' | 'inittab' | 'systemd' | 'openrc' }} [options] the guest's init: 'tini'
 *   (the reference image: tini as PID 1 around a supervisor that also runs the hybrid-vsock test
 *   bridge); 'inittab' (busybox init as PID 1), 'systemd' or 'openrc' (a minimal Debian made by
 *   mmdebstrap), each with conchd added by install.sh exactly as a user's image gets it and
 *   serving virtio-serial only
 */
export async function buildImage(options = {}) {
  const init = options.init ?? 'tini';
  if (!INITS.includes(init)) throw new Error(`unknown init ${init}`);
  const kernel = kernelPackage();
  const node = process.execPath;
  const busybox = which('busybox');
  const tini = existsSync('/usr/bin/tini-static') ? '/usr/bin/tini-static' : which('tini');
  const bundleDir = mkdtempSync(join(tmpdir(), 'conch-bundle-'));
  await bundle(bundleDir, { testBridge: true });
  const key = inputsHash(init, kernel, bundleDir, [node, busybox, tini]);
  const out = join(CACHE, key);
  if (existsSync(join(out, 'initramfs.lz4')) && existsSync(join(out, 'vmlinuz'))) {
    rmSync(bundleDir, { recursive: true, force: true });
    return out;
  }
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'conch-image-'));
  try {
    log(`downloading ${kernel}`);
    sh('apt-get', ['download', '-qq', kernel], { cwd: work });
    const deb = readdirSync(work).find((f) => f.startsWith(kernel) && f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${kernel} produced no .deb`);
    const kdir = join(work, 'kernel');
    sh('dpkg-deb', ['-x', join(work, deb), kdir]);
    const vmlinuz = readdirSync(join(kdir, 'boot')).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error('no vmlinuz in the kernel package');
    const release = vmlinuz.slice('vmlinuz-'.length);
    const modules = resolveModules(join(kdir, 'lib/modules', release));

    const rootfs = join(work, 'rootfs');
    const here = join(import.meta.dirname, 'rootfs');
    if (init === 'systemd' || init === 'openrc') {
      log(`building a minimal Debian with ${init} (mmdebstrap)`);
      assembleDebianRootfs({
        init, work, rootfs, moduleRoot: join(kdir, 'lib/modules', release), release, modules, node, libraries: libraries(node), bundleDir, envFile: join(here, 'conchd.env'),
      });
    } else {
      assembleBusyboxRootfs({ rootfs, init, here, busybox, tini, node, modules, bundleDir });
    }

    log(`packing initramfs (${modules.length} modules: ${modules.map((m) => m.name).join(' ')})`);
    const staging = `${out}.tmp-${process.pid}`;
    mkdirSync(staging, { recursive: true });
    // The kernel's lz4 decompressor wants the legacy frame format (-l).
    sh('sh', ['-c', `cd "${rootfs}" && find . -print0 | cpio --null -o -H newc --quiet | lz4 -9 -l -q > "${join(staging, 'initramfs.lz4')}"`]);
    copyFileSync(join(kdir, 'boot', vmlinuz), join(staging, 'vmlinuz'));
    writeFileSync(join(staging, 'manifest.json'), `${JSON.stringify({ init, kernel, release, modules: modules.map((m) => m.name), node: process.version }, null, 2)}\n`);
    rmSync(out, { recursive: true, force: true });
    renameSync(staging, out);
    log(`built in ${((Date.now() - started) / 1000).toFixed(1)} s: ${out} (initramfs ${(statSync(join(out, 'initramfs.lz4')).size / 1e6).toFixed(1)} MB)`);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(bundleDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === import.meta.filename) {
  const init = process.argv.includes('--init') ? process.argv[process.argv.indexOf('--init') + 1] : undefined;
  const dir = await buildImage(init ? { init } : {});
  const size = (name) => (statSync(join(dir, name)).size / 1e6).toFixed(1);
  console.log(dir);
  log(`initramfs ${size('initramfs.lz4')} MB, kernel ${size('vmlinuz')} MB`);
}
