#!/usr/bin/env node
// Boots the reference image under QEMU and exposes conchd on the host:
//   - a virtio-serial port, as a chardev Unix socket  → endpoint unix:DIR/virtio.sock
//   - a Firecracker-style hybrid vsock Unix socket     → endpoint hybrid-vsock:DIR/vm.vsock:1024
//     (bridged into the guest's AF_VSOCK listener; see hybrid-vsock-host.mjs)
// TCG by default; KVM only when asked (--accel kvm): /dev/kvm on some hosts is a nested
// device that stock kernels cannot use, so it is never auto-detected.
//   npm run vm [-- --accel kvm] [--memory MB] [--cpus N] [--init tini|inittab|systemd|openrc]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { VsockShellSession } from '@conch/shell-client';
import { buildImage, INITS } from './build-image.mjs';
import { startHybridVsockHost } from './hybrid-vsock-host.mjs';

/** The guest port conchd's vsock listener uses in the reference image. */
export const GUEST_VSOCK_PORT = 1024;
/** The guest bridge's TCP port (vsock-bridge.mjs). */
const GUEST_BRIDGE_PORT = 7000;

/** A free loopback TCP port for QEMU's hostfwd. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function hasSetpriv() {
  try {
    execFileSync('setpriv', ['--help'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** How long a boot may take before we give up: TCG on 2 busy cores is slow, but not this slow. */
const BOOT_TIMEOUT_MS = 180_000;
/** After SIGTERM, how long QEMU gets to exit before SIGKILL. */
const STOP_GRACE_MS = 5_000;

/**
 * @param {{ accel?: 'tcg' | 'kvm', memoryMb?: number, cpus?: number, init?: 'tini' | 'inittab' | 'systemd' | 'openrc', log?: (line: string) => void }} options
 *   init: see buildImage; the 'inittab', 'systemd' and 'openrc' images serve virtio-serial only (no hybrid-vsock bridge)
 * @returns {Promise<{ endpoints: { virtioSerial: string, hybridVsock: string }, dir: string, pid: number, bootToReadyMs: number, imageBytes: number, console: () => string, stop: () => Promise<void> }>}
 */
export async function bootVm(options = {}) {
  const image = await buildImage(options.init ? { init: options.init } : {});
  const dir = mkdtempSync(join(tmpdir(), 'conch-vm-'));
  const virtioSock = join(dir, 'virtio.sock');
  const consoleLog = join(dir, 'console.log');
  const vsockSock = join(dir, 'vm.vsock');
  const forwardPort = await freePort();
  const accel = options.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max'];
  const args = [
    '-machine', 'q35', ...accel, '-m', String(options.memoryMb ?? 1024), '-smp', String(options.cpus ?? 2),
    '-kernel', join(image, 'vmlinuz'), '-initrd', join(image, 'initramfs.lz4'),
    '-append', 'console=ttyS0 panic=-1 quiet loglevel=3',
    '-display', 'none', '-monitor', 'none', '-no-reboot', '-nodefaults',
    '-serial', `file:${consoleLog}`,
    '-device', 'virtio-serial-pci',
    '-chardev', `socket,id=conch0,path=${virtioSock},server=on,wait=off`,
    '-device', 'virtserialport,chardev=conch0,name=org.conch.0',
    // User networking only carries the hybrid-vsock test bridge; restrict=on keeps the guest
    // from reaching anything else.
    '-netdev', `user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:${forwardPort}-10.0.2.15:${GUEST_BRIDGE_PORT}`,
    '-device', 'virtio-net-pci,netdev=net0',
  ];
  const started = Date.now();
  // setpriv (util-linux, always on Debian) execs QEMU with a parent-death signal, so a launcher
  // killed outright (timeout, SIGKILL, a test runner's worker) does not leave a guest burning a core.
  const qemu = hasSetpriv()
    ? spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-system-x86_64', ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let qemuErr = '';
  qemu.stderr.on('data', (d) => (qemuErr += d));
  const exited = new Promise((resolve) => qemu.once('exit', (code, signal) => resolve({ code, signal })));
  qemu.once('error', (err) => (qemuErr += String(err)));
  const readConsole = () => {
    try {
      return readFileSync(consoleLog, 'utf8');
    } catch {
      return '';
    }
  };
  const hybrid = await startHybridVsockHost(vsockSock, forwardPort);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    hybrid.close();
    // Only the QEMU we started, by its pid: never pkill by name.
    if (qemu.exitCode === null && qemu.signalCode === null) {
      qemu.kill('SIGTERM');
      const timer = setTimeout(() => qemu.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  // Ready means a real handshake over the port, not a fixed sleep.
  const endpoint = `unix:${virtioSock}`;
  try {
    for (;;) {
      if (qemu.exitCode !== null || qemu.signalCode !== null) throw new Error(`qemu exited during boot: ${qemuErr}\n${readConsole()}`);
      if (Date.now() - started > BOOT_TIMEOUT_MS) throw new Error(`conchd in the VM was not ready within ${BOOT_TIMEOUT_MS} ms\n${readConsole()}`);
      const probe = new VsockShellSession(endpoint, { connectTimeoutMs: 3000, keepaliveMs: 0 });
      const status = await probe.connect();
      await probe.close();
      if (status.state === 'ready') break;
      options.log?.(`waiting for conchd: ${status.state === 'unavailable' ? `${status.reason}: ${status.message}` : status.state}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    endpoints: { virtioSerial: endpoint, hybridVsock: `hybrid-vsock:${vsockSock}:${GUEST_VSOCK_PORT}` },
    dir,
    pid: qemu.pid,
    bootToReadyMs: Date.now() - started,
    imageBytes: statSync(join(image, 'initramfs.lz4')).size + statSync(join(image, 'vmlinuz')).size,
    console: readConsole,
    stop,
  };
}

if (process.argv[1] === import.meta.filename) {
  const { values } = parseArgs({ options: { accel: { type: 'string', default: 'tcg' }, memory: { type: 'string' }, cpus: { type: 'string' }, init: { type: 'string', default: 'tini' } } });
  if (values.accel !== 'tcg' && values.accel !== 'kvm') {
    console.error('--accel must be tcg or kvm');
    process.exit(64);
  }
  if (!INITS.includes(values.init)) {
    console.error(`--init must be one of ${INITS.join(', ')}`);
    process.exit(64);
  }
  const vm = await bootVm({
    accel: values.accel, init: values.init, ...(values.memory ? { memoryMb: Number(values.memory) } : {}), ...(values.cpus ? { cpus: Number(values.cpus) } : {}),
    log: (line) => console.error(line),
  });
  console.log(`conch VM ready in ${vm.bootToReadyMs} ms (image ${(vm.imageBytes / 1e6).toFixed(1)} MB, qemu pid ${vm.pid})`);
  console.log(`  virtio-serial: ${vm.endpoints.virtioSerial}`);
  console.log(`  hybrid-vsock:  ${vm.endpoints.hybridVsock}`);
  console.log(`  try: node packages/shell-client/bin/conch.js --connect ${vm.endpoints.virtioSerial} exec -- uname -a`);
  console.log('Ctrl-C stops the VM.');
  const shutdown = async () => {
    await vm.stop();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}
