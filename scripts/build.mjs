#!/usr/bin/env node
// Runs tsup once per build stage (see tsup.config.ts), so each package's declarations are
// built after those of the packages it imports.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const config = readFileSync(new URL('../tsup.config.ts', import.meta.url), 'utf8');
const stageCount = (config.match(/^const stages[\s\S]*?^\];/m)?.[0].match(/^  \[/gm) ?? []).length;
if (stageCount === 0) throw new Error('no build stages found in tsup.config.ts');
for (let stage = 0; stage < stageCount; stage++) {
  const run = spawnSync('npx', ['--no-install', 'tsup', '--silent'], {
    stdio: 'inherit',
    env: { ...process.env, CONCH_BUILD_STAGE: String(stage) },
  });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
