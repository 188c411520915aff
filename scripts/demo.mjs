#!/usr/bin/env node
// The quick start: conchd on a private Unix socket, driven through the `conch` CLI and the SDK.
// No VM needed. Run with `npm run demo` (which builds first).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VsockShellSession } from '@conch/shell-client';

const root = new URL('..', import.meta.url).pathname;
const conchd = join(root, 'packages/shell-daemon/bin/conchd.js');
const conch = join(root, 'packages/shell-client/bin/conch.js');
const dir = mkdtempSync(join(tmpdir(), 'conch-demo-'));
const socket = join(dir, 'conchd.sock');
const endpoint = `unix:${socket}`;

const daemon = spawn(process.execPath, [conchd, '--listen', endpoint, '--log-level', 'warn'], { stdio: 'inherit' });
for (let i = 0; !(await canConnect(socket)); i++) {
  if (i > 100 || daemon.exitCode !== null) throw new Error('conchd did not start');
  await new Promise((r) => setTimeout(r, 50));
}

function cli(...args) {
  const quoted = args.map((a) => (/[^\w@%+=:,./-]/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a));
  console.log(`\n$ conch ${quoted.join(' ')}`);
  const r = spawnSync(process.execPath, [conch, ...args], { stdio: 'inherit' });
  console.log(`[exit status ${r.status}]`);
  return r.status;
}

let failures = 0;
const expectStatus = (got, want) => {
  if (got !== want) {
    console.error(`demo: expected exit status ${want}, got ${got}`);
    failures++;
  }
};
expectStatus(cli('--connect', endpoint, 'status'), 0);
expectStatus(cli('--connect', endpoint, 'exec', '--', 'sh', '-c', 'echo "hello from $(uname -s), pid $$"; echo "to stderr" >&2'), 0);
expectStatus(cli('--connect', endpoint, 'exec', '--', 'sh', '-c', 'exit 3'), 3);
expectStatus(cli('--connect', endpoint, 'exec', '--timeout', '0.5', '--', 'sleep', '10'), 143);
expectStatus(cli('--connect', `unix:${join(dir, 'missing.sock')}`, 'exec', '--', 'true'), 69);

console.log('\nSDK: one session, state carried between commands');
const session = new VsockShellSession(endpoint);
await session.exec('cd /tmp && export GREETING=persisted');
const r = await session.exec('echo "$PWD $GREETING"');
console.log(`  exec -> ${JSON.stringify(r.stdout)} exitCode=${r.exitCode}`);
if (r.stdout !== '/tmp persisted\n') failures++;
await session.close();

daemon.kill('SIGTERM');
await new Promise((r) => daemon.once('exit', r));
rmSync(dir, { recursive: true, force: true });
console.log(failures === 0 ? '\ndemo: all steps behaved as expected' : `\ndemo: ${failures} step(s) misbehaved`);
process.exitCode = failures === 0 ? 0 : 1;

function canConnect(path) {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}
