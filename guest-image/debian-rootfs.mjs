// The systemd and OpenRC variants' rootfs: a minimal Debian made by mmdebstrap from the Debian
// registry, with the kernel's modules where modprobe (and udev) expect them, the host's node, and
// conchd added by `install.sh --init systemd|openrc` exactly as a user's Debian image gets it.
// Booting it is what shows the unit or the init script starting early, restarting and being
// OOM-protected under the real init.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const MIRROR = 'http://deb.debian.org/debian';
/**
 * What each init needs on top of minbase. OpenRC on Debian runs under sysvinit's init (its rcS
 * and rc call openrc); udev's script mounts devtmpfs on /dev, which nothing else there does;
 * procps, for the tests' pgrep.
 */
const PACKAGES = { systemd: ['systemd-sysv', 'udev', 'kmod'], openrc: ['sysvinit-core', 'openrc', 'udev', 'kmod', 'procps'] };
/** What the kernel runs as /init from the initramfs (no /etc/initrd-release, so no switch-root). */
const INIT = { systemd: 'lib/systemd/systemd', openrc: 'sbin/init' };

const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });

/**
 * mmdebstrap from the host, or else from its .deb, unpacked and run in place (a perl script):
 * like the kernel, it is fetched with apt-get download and never installed on the host.
 */
export function mmdebstrapCommand(work) {
  try {
    return sh('sh', ['-c', 'command -v mmdebstrap']).trim();
  } catch {
    // Not installed: fetch it.
  }
  const dir = join(work, 'mmdebstrap');
  mkdirSync(dir, { recursive: true });
  sh('apt-get', ['download', '-qq', 'mmdebstrap'], { cwd: dir });
  const deb = readdirSync(dir).find((f) => f.startsWith('mmdebstrap_') && f.endsWith('.deb'));
  if (!deb) throw new Error('apt-get download mmdebstrap produced no .deb');
  sh('dpkg-deb', ['-x', join(dir, deb), join(dir, 'root')]);
  return join(dir, 'root/usr/bin/mmdebstrap');
}

/** The host's Debian suite, so that the host's node finds the same glibc in the guest. */
function hostSuite() {
  const match = /^VERSION_CODENAME=(\S+)$/m.exec(readFileSync('/etc/os-release', 'utf8'));
  if (!match) throw new Error('cannot tell the host Debian suite from /etc/os-release');
  return match[1];
}

/**
 * @param {{ init: 'systemd' | 'openrc', work: string, rootfs: string, moduleRoot: string, release: string, modules: { name: string, file: string }[],
 *   node: string, libraries: string[], bundleDir: string, envFile: string }} options
 */
export function assembleDebianRootfs({ init, work, rootfs, moduleRoot, release, modules, node, libraries, bundleDir, envFile }) {
  const tarball = `${rootfs}.tar`;
  const mmdebstrap = mmdebstrapCommand(work);
  // mmdebstrap runs its helpers (mmtarfilter) through PATH: an unpacked one finds them beside it.
  const env = { ...process.env, PATH: `${dirname(mmdebstrap)}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  sh(mmdebstrap, [
    '--variant=minbase', `--include=${PACKAGES[init].join(',')}`, '--quiet',
    // Documentation is most of a minimal Debian's size and nothing in the guest reads it.
    ...['doc', 'man', 'locale', 'info'].map((d) => `--dpkgopt=path-exclude=/usr/share/${d}/*`),
    hostSuite(), tarball, MIRROR,
  ], { env });
  mkdirSync(rootfs, { recursive: true });
  sh('tar', ['-xf', tarball, '-C', rootfs]);
  rmSync(tarball);

  // Modules where modprobe looks, indexed by depmod, so udev loads the virtio drivers by alias;
  // vsock_loopback has no device to be found by, so modules-load.d loads the lot explicitly
  // (systemd-modules-load; under OpenRC, Debian's kmod script, which reads the same files).
  const kernelDir = join(rootfs, 'lib/modules', release);
  mkdirSync(join(kernelDir, 'kernel/conch'), { recursive: true });
  for (const { name, file } of modules) copyFileSync(file, join(kernelDir, 'kernel/conch', `${name}.ko`));
  for (const index of ['modules.builtin', 'modules.builtin.modinfo', 'modules.order']) {
    if (existsSync(join(moduleRoot, index))) copyFileSync(join(moduleRoot, index), join(kernelDir, index));
  }
  sh('depmod', ['-b', rootfs, release]);
  mkdirSync(join(rootfs, 'etc/modules-load.d'), { recursive: true });
  writeFileSync(join(rootfs, 'etc/modules-load.d/conch.conf'), `${modules.map((m) => m.name).join('\n')}\n`);

  copyFileSync(node, join(rootfs, 'usr/bin/node'));
  sh('chmod', ['755', join(rootfs, 'usr/bin/node')]);
  // Same suite, so the guest has these already; copy only what it lacks rather than mix glibcs.
  for (const lib of libraries) {
    const target = join(rootfs, lib);
    if (existsSync(target)) continue;
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(lib, target);
  }

  mkdirSync(join(rootfs, 'etc/conch'), { recursive: true });
  copyFileSync(envFile, join(rootfs, 'etc/conch/conchd.env'));
  sh(join(import.meta.dirname, 'install.sh'), [rootfs, '--init', init, '--bundle', bundleDir]);
  writeFileSync(join(rootfs, 'etc/hostname'), 'conch-guest\n');
  if (init === 'openrc') {
    // The guest has no VGA console: gettys on tty1-6 would only respawn, failing, for ever.
    const inittab = join(rootfs, 'etc/inittab');
    writeFileSync(inittab, readFileSync(inittab, 'utf8').replace(/^(\d+:\d+:respawn:\/sbin\/getty .*)$/gm, '#$1'));
  }
  symlinkSync(INIT[init], join(rootfs, 'init'));
}
