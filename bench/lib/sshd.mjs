import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SSHD = '/usr/sbin/sshd';
/** How long sshd and the ControlMaster get to come up. */
const START_TIMEOUT_MS = 10_000;

/** A free loopback TCP port (bound and released; good enough for a private bench sshd). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function waitForPort(port, deadline) {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = createConnection({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => {
        if (Date.now() > deadline) reject(new Error(`sshd did not listen on 127.0.0.1:${port}`));
        else setTimeout(attempt, 20);
      });
    };
    attempt();
  });
}

/**
 * A private OpenSSH server on 127.0.0.1 (generated host and user keys in a temp dir, its own
 * sshd_config, run in the foreground as our child) and a ControlMaster connection to it, so
 * each `ssh` afterwards is multiplexed. Resolves with `{ available: false, why }` when this
 * machine cannot run it, so the rows can say why instead of disappearing.
 */
export async function startSshd() {
  if (!existsSync(SSHD)) return { available: false, why: `${SSHD} not found (apt-get install -y openssh-server)` };
  const dir = mkdtempSync(join(tmpdir(), 'conch-bench-sshd-'));
  const cleanup = [];
  const stop = async () => {
    for (const fn of cleanup.reverse()) await fn();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const name of ['host_key', 'user_key']) {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)], { stdio: 'ignore' });
    }
    execFileSync('cp', [join(dir, 'user_key.pub'), join(dir, 'authorized_keys')]);
    const port = await freePort();
    const config = join(dir, 'sshd_config');
    writeFileSync(config, [
      `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host_key')}`, `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'PubkeyAuthentication yes', 'PasswordAuthentication no',
      'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password', 'StrictModes no', 'UsePAM no',
      'UseDNS no', 'MaxSessions 1000', 'LogLevel ERROR',
      // Debian's bash sources ~/.bashrc when sshd starts it, and root's here runs `pyenv init`
      // (about 250 ms): point HOME at the empty temp dir so the peer measures ssh, not a bashrc.
      `SetEnv HOME=${dir}`, '',
    ].join('\n'));
    // sshd refuses to start without its privilege separation directory; the package does not
    // create it on a machine without systemd.
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const sshd = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let sshdErr = '';
    sshd.stderr.on('data', (d) => (sshdErr += d));
    const sshdExit = new Promise((r) => sshd.once('exit', r));
    cleanup.push(async () => {
      sshd.kill('SIGTERM');
      await sshdExit;
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    await Promise.race([
      waitForPort(port, deadline),
      sshdExit.then((code) => { throw new Error(`sshd exited (${code}): ${sshdErr.trim()}`); }),
    ]);
    const ctl = join(dir, 'ctl');
    const base = [
      '-F', '/dev/null', '-i', join(dir, 'user_key'), '-p', String(port), '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=no', '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'LogLevel=ERROR',
      '-S', ctl,
    ];
    const master = spawn('ssh', [...base, '-M', '-N', '127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let masterErr = '';
    master.stderr.on('data', (d) => (masterErr += d));
    const masterExit = new Promise((r) => master.once('exit', r));
    cleanup.push(async () => {
      master.kill('SIGTERM');
      await masterExit;
    });
    // The master is up once a multiplexed `true` succeeds.
    for (;;) {
      let gone = false;
      void masterExit.then(() => (gone = true));
      try {
        execFileSync('ssh', [...base, '-o', 'ControlMaster=no', '127.0.0.1', 'true'], { stdio: 'ignore' });
        break;
      } catch {
        if (gone || Date.now() > deadline) throw new Error(`ssh ControlMaster did not come up: ${masterErr.trim()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const version = execFileSync('ssh', ['-V'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
      || execFileSync('sh', ['-c', 'ssh -V 2>&1'], { encoding: 'utf8' }).trim();
    return {
      available: true,
      version,
      /** argv for a multiplexed ssh running `command` on the private sshd. */
      argv: (...command) => ['ssh', ...base, '-o', 'ControlMaster=auto', '127.0.0.1', ...command],
      stop,
    };
  } catch (err) {
    await stop();
    return { available: false, why: `cannot run a private sshd here: ${err.message}` };
  }
}
