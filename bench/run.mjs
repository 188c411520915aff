#!/usr/bin/env node
// `npm run bench`: every row sets conch beside its floor or peer, measured in the same run and
// interleaved. Prints a markdown table and writes bench/results/latest.json.
// Options: --scale X (iteration counts × X, default 1), --only a,b (case names),
//          --save NAME (also write bench/results/NAME.json, the copy to commit).
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchColdStart } from './cases/cold-start.mjs';
import { benchConcurrent } from './cases/concurrent.mjs';
import { benchConnect } from './cases/connect.mjs';
import { benchExec } from './cases/exec.mjs';
import { benchFraming } from './cases/framing.mjs';
import { benchPty } from './cases/pty.mjs';
import { benchRss } from './cases/rss.mjs';
import { benchSessions } from './cases/sessions.mjs';
import { benchStream } from './cases/stream.mjs';
import { startDaemon } from './lib/daemon.mjs';
import { describeMachine } from './lib/machine.mjs';
import { startSshd } from './lib/sshd.mjs';
import { formatTable } from './lib/table.mjs';

const CASES = {
  exec: benchExec, stream: benchStream, pty: benchPty, concurrent: benchConcurrent, sessions: benchSessions,
  rss: benchRss, framing: benchFraming, connect: benchConnect, coldstart: benchColdStart,
};

const { values } = parseArgs({ options: { scale: { type: 'string', default: '1' }, only: { type: 'string' }, save: { type: 'string' } } });
const scale = Number(values.scale);
const only = values.only ? values.only.split(',') : Object.keys(CASES);
for (const name of only) if (!CASES[name]) throw new Error(`unknown case ${name}; one of ${Object.keys(CASES).join(', ')}`);

const here = dirname(fileURLToPath(import.meta.url));
const started = new Date();
const machine = describeMachine();
const loadBefore = os.loadavg();
console.error(`conch bench on ${machine.cpuModel}, ${machine.cores} cores, ${machine.ramGiB} GiB, ${machine.kernel}, Node ${machine.node}; load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);

const cleanups = [];
const cleanup = async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
};
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void cleanup().then(() => process.exit(130)));

const needsSsh = only.some((n) => n === 'exec' || n === 'stream');
const sshd = needsSsh ? await startSshd() : { available: false, why: 'not needed by the selected cases' };
if (sshd.available) cleanups.push(() => sshd.stop());
else if (needsSsh) console.error(`OpenSSH rows unavailable: ${sshd.why}`);

const freshDaemon = async (options) => {
  const d = await startDaemon(options);
  cleanups.push(() => d.stop());
  return d;
};
const rows = [];
const timings = {};
try {
  let shared;
  for (const name of only) {
    const t0 = performance.now();
    console.error(`… ${name}`);
    shared ??= ['stream', 'pty', 'concurrent', 'connect'].includes(name) ? await freshDaemon() : undefined;
    try {
      rows.push(...(await CASES[name]({ daemon: shared, startDaemon: freshDaemon, sshd, scale })));
    } catch (err) {
      // One broken case must not lose the others' results: it gets a row saying what failed.
      console.error(err);
      rows.push({ id: name, title: `${name}: failed`, unit: '', result: 'ERROR', note: String(err?.message ?? err) });
    }
    timings[name] = Math.round(performance.now() - t0);
  }
} finally {
  await cleanup();
}

const result = {
  date: started.toISOString(), machine, scale, loadavg: { before: loadBefore, after: os.loadavg() },
  ssh: sshd.available ? { version: sshd.version } : { unavailable: sshd.why }, caseMs: timings, rows,
};
const dir = join(here, 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
if (values.save) writeFileSync(join(dir, `${values.save}.json`), `${JSON.stringify(result, null, 2)}\n`);
console.log(formatTable(rows));
console.error(`\nwrote ${join(dir, 'latest.json')}${values.save ? ` and ${values.save}.json` : ''}; load after ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
