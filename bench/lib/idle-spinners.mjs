import { spawn } from 'node:child_process';
import os from 'node:os';

/**
 * Keeps every core out of its idle halt: one busy loop per core under SCHED_IDLE (`chrt --idle`),
 * which the scheduler runs only when nothing else wants that core and preempts at once when
 * something does. On a VM, a halted vCPU must be woken through the hypervisor; this takes that
 * wake-up latency out of a measurement while taking next to no CPU from the contenders.
 * Resolves to `stop()`, or rejects when the spinners cannot start (no chrt, no SCHED_IDLE).
 */
export async function startIdleSpinners() {
  const spinners = [];
  const stop = () => {
    process.off('exit', stop);
    for (const child of spinners) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  // process.exit() (the bench's SIGINT handler) runs no finally blocks, but 'exit' listeners.
  process.once('exit', stop);
  try {
    for (let i = 0; i < os.availableParallelism(); i++) {
      // chrt execs sh, so $PPID is this process: a loop left behind by a bench killed outright
      // ends with it rather than spin for ever.
      const child = spawn('chrt', ['--idle', '0', 'sh', '-c', 'while kill -0 $PPID 2>/dev/null; do :; done'], { stdio: ['ignore', 'ignore', 'pipe'] });
      spinners.push(child);
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      // chrt fails (ENOENT, EPERM) at once or not at all: give it a moment to.
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, 50);
        child.once('error', (err) => (clearTimeout(timer), reject(err)));
        child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`chrt --idle exited ${code}: ${stderr.trim()}`))));
      });
    }
  } catch (err) {
    stop();
    throw err;
  }
  return stop;
}
