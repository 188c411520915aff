#!/usr/bin/env node
// Profiles one workload: conchd runs under --cpu-prof, this process profiles itself through the
// inspector, and the top frames of both are printed. Usage: node bench/profile.mjs exec|stream|pty [count]
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VsockShellSession } from '@conch/shell-client';
import { drain } from './cases/stream.mjs';
import { topFrames } from './lib/cpuprofile.mjs';
import { startDaemon } from './lib/daemon.mjs';

const workloads = {
  exec: async (session, n = 2000) => { for (let i = 0; i < n; i++) await session.exec(['/bin/true']); },
  stream: async (session, n = 2) => { for (let i = 0; i < n; i++) await drain(await session.spawn(['head', '-c', String(1 << 30), '/dev/zero'])); },
  pty: async (session, n = 2) => { for (let i = 0; i < n; i++) await drain(await session.spawn(['head', '-c', String(32 << 20), '/dev/zero'], { pty: { cols: 80, rows: 24 } })); },
};

const [name = 'stream', count] = process.argv.slice(2);
const workload = workloads[name];
if (!workload) throw new Error(`unknown workload ${name}; one of ${Object.keys(workloads).join(', ')}`);
const dir = mkdtempSync(join(tmpdir(), 'conch-prof-'));
const daemon = await startDaemon({ nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] });
const session = new VsockShellSession(daemon.endpoint);
await session.connect();
const inspector = new Session();
inspector.connect();
await inspector.post('Profiler.enable');
await inspector.post('Profiler.start');
const t0 = performance.now();
await workload(session, count === undefined ? undefined : Number(count));
const ms = performance.now() - t0;
const { profile } = await inspector.post('Profiler.stop');
writeFileSync(join(dir, 'client.cpuprofile'), JSON.stringify(profile));
await session.close();
await daemon.stop();
console.log(`${name}: ${ms.toFixed(0)} ms; profiles in ${dir}`);
for (const file of readdirSync(dir)) {
  console.log(`\n${file.startsWith('client') ? 'client' : 'conchd'} (${file}):`);
  for (const f of topFrames(join(dir, file))) console.log(`  ${String(f.share).padStart(5)}%  ${String(f.ms).padStart(6)} ms  ${f.frame}`);
}
