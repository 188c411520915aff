import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VsockShellSession } from '@conch/shell-client';

// install.sh on rootfs directories, checked on the host: what each init gets, that a second run
// changes nothing, and that the installed bundle runs (with and without pty.node). The booted
// checks of the same install are in install-inittab.test.ts.
const repo = resolve(import.meta.dirname, '../..');
const installSh = join(repo, 'guest-image/install.sh');

let work: string;
let bundleDir: string;

function install(rootfs: string, ...args: string[]): string {
  return execFileSync(installSh, [rootfs, '--bundle', bundleDir, ...args], { encoding: 'utf8' });
}

function freshRootfs(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'conch-install-test-'));
  bundleDir = join(work, 'bundle');
  execFileSync('node', [join(repo, 'guest-image/bundle.mjs'), bundleDir], { stdio: 'ignore' });
}, 120_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('install.sh', () => {
  it('systemd: an early unit with Restart=always and OOM protection, enabled in sysinit.target, that systemd accepts', () => {
    const rootfs = freshRootfs('systemd');
    install(rootfs, '--init', 'systemd');
    const unit = readFileSync(join(rootfs, 'etc/systemd/system/conchd.service'), 'utf8');
    expect(unit).toMatch(/^DefaultDependencies=no$/m);
    expect(unit).toMatch(/^Restart=always$/m);
    expect(unit).toMatch(/^OOMScoreAdjust=-1000$/m);
    expect(unit).toMatch(/^EnvironmentFile=-\/etc\/conch\/conchd\.env$/m);
    expect(readlinkSync(join(rootfs, 'etc/systemd/system/sysinit.target.wants/conchd.service'))).toBe('../conchd.service');
    expect(readFileSync(join(rootfs, 'etc/conch/conchd.env'), 'utf8')).toMatch(/^CONCHD_ARGS="--listen vsock:1024 --listen virtio-serial:org\.conch\.0"$/m);
    let analyze = '';
    try {
      analyze = execFileSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).trim();
    } catch {
      console.warn('install.test: systemd-analyze is not installed; the unit is checked by content only');
    }
    // verify --root resolves ExecStart inside the rootfs, so a wrong path in the unit fails here.
    if (analyze) expect(execFileSync(analyze, ['verify', `--root=${rootfs}`, 'conchd.service'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })).toBe('');
  });

  it('openrc: a supervise-daemon service in the sysinit runlevel, started through conchd-service', () => {
    const rootfs = freshRootfs('openrc');
    install(rootfs, '--init', 'openrc');
    const script = join(rootfs, 'etc/init.d/conchd');
    expect(statSync(script).mode & 0o111).toBe(0o111);
    const text = readFileSync(script, 'utf8');
    expect(text).toMatch(/^#!\/sbin\/openrc-run$/m);
    expect(text).toMatch(/^supervisor=supervise-daemon$/m);
    expect(text).toMatch(/^command=\/opt\/conch\/bin\/conchd-service$/m);
    expect(existsSync(join(rootfs, 'opt/conch/bin/conchd-service'))).toBe(true);
    execFileSync('sh', ['-n', script]);
    expect(readlinkSync(join(rootfs, 'etc/runlevels/sysinit/conchd'))).toBe('/etc/init.d/conchd');
  });

  it('inittab: busybox syntax plus busybox defaults on a busybox rootfs, and a second run adds nothing', () => {
    const rootfs = freshRootfs('busybox');
    mkdirSync(join(rootfs, 'sbin'));
    symlinkSync('../bin/busybox', join(rootfs, 'sbin/init'));
    expect(install(rootfs, '--init', 'inittab')).toContain('busybox syntax');
    install(rootfs, '--init', 'inittab');
    const lines = readFileSync(join(rootfs, 'etc/inittab'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toContain('::sysinit:/etc/init.d/rcS');
    expect(lines.filter((l) => l.includes('conchd'))).toEqual(['::respawn:/opt/conch/bin/conchd-service']);
  });

  it("inittab: sysvinit syntax on a sysvinit rootfs, appended to the image's own inittab", () => {
    const rootfs = freshRootfs('sysvinit');
    mkdirSync(join(rootfs, 'sbin'));
    mkdirSync(join(rootfs, 'etc'));
    writeFileSync(join(rootfs, 'sbin/init'), '');
    writeFileSync(join(rootfs, 'etc/inittab'), 'id:2:initdefault:\n');
    expect(install(rootfs, '--init', 'inittab')).toContain('sysvinit syntax');
    const lines = readFileSync(join(rootfs, 'etc/inittab'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual(['id:2:initdefault:', 'cnch:2345:respawn:/opt/conch/bin/conchd-service']);
  });

  it('keeps an existing conchd.env (the image builder may have set endpoints or a token)', () => {
    const rootfs = freshRootfs('env');
    mkdirSync(join(rootfs, 'etc/conch'), { recursive: true });
    writeFileSync(join(rootfs, 'etc/conch/conchd.env'), 'CONCHD_ARGS="--listen vsock:2000"\n');
    install(rootfs, '--init', 'none');
    expect(readFileSync(join(rootfs, 'etc/conch/conchd.env'), 'utf8')).toBe('CONCHD_ARGS="--listen vsock:2000"\n');
    expect(existsSync(join(rootfs, 'etc/systemd'))).toBe(false);
  });

  it('refuses an unknown init or a missing rootfs, with usage', () => {
    const run = (...args: string[]) => {
      try {
        execFileSync(installSh, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        return 0;
      } catch (err) {
        return (err as { status: number }).status;
      }
    };
    expect(run(freshRootfs('bad'), '--bundle', bundleDir, '--init', 'upstart')).toBe(64);
    expect(run(join(work, 'does-not-exist'), '--bundle', bundleDir)).toBe(66);
  });
});

describe('the installed bundle', () => {
  let rootfs: string;
  let daemon: ChildProcess | undefined;

  beforeAll(() => {
    rootfs = freshRootfs('run');
    install(rootfs, '--init', 'none');
  });

  async function serve(): Promise<string> {
    const sock = join(work, `run-${Date.now()}.sock`);
    daemon = spawn(join(rootfs, 'opt/conch/bin/conchd'), ['--listen', `unix:${sock}`, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    return `unix:${sock}`;
  }

  async function stopServing(): Promise<void> {
    if (!daemon || daemon.exitCode !== null) return;
    const exited = new Promise((r) => daemon!.once('exit', r));
    daemon.kill('SIGTERM');
    await exited;
  }

  it('runs from /opt/conch alone: pipes and a PTY', async () => {
    const s = new VsockShellSession(await serve());
    try {
      expect((await s.connect()).state).toBe('ready');
      expect((await s.exec(['echo', 'from the bundle'])).stdout).toBe('from the bundle\n');
      expect((await s.exec('tty', { pty: { cols: 80, rows: 24 } })).stdout).toMatch(/^\/dev\/pts\/\d+\r\n$/);
    } finally {
      await s.close();
      await stopServing();
    }
  });

  it('keeps serving without pty.node: pipes work, PTY requests get PTY_UNAVAILABLE', async () => {
    const pty = join(rootfs, 'opt/conch/lib/native/pty.node');
    renameSync(pty, `${pty}.away`);
    const s = new VsockShellSession(await serve());
    try {
      expect((await s.connect()).state).toBe('ready');
      expect((await s.exec(['echo', 'still here'])).stdout).toBe('still here\n');
      await expect(s.exec('tty', { pty: { cols: 80, rows: 24 } })).rejects.toMatchObject({ code: 'PTY_UNAVAILABLE' });
      expect((await s.exec(['echo', 'and after'])).stdout).toBe('and after\n');
    } finally {
      await s.close();
      await stopServing();
      renameSync(`${pty}.away`, pty);
      chmodSync(pty, 0o755);
    }
  });
});
