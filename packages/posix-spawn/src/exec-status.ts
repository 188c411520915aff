import { closeSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { binding } from './binding.js';
import { PipeReader } from './pipe-reader.js';

/** How long to wait for conch-exec-as to reach its exec: it has nothing to wait for but the cgroup join, so only a stopped child gets here. */
const EXEC_STATUS_TIMEOUT_MS = 2000;

/**
 * A pipe on which conch-exec-as (`--status-fd writeFd`) started by another spawner reports why
 * it could not exec: node-pty's forkpty child keeps the fds that are not close-on-exec, so it
 * can hand the write end on, and a missing interpreter or a refused user switch becomes an
 * errno error at the spawn rather than exit 126/127 and a line on the terminal.
 */
export interface ExecStatus {
  /** For `--status-fd`. */
  readonly writeFd: number;
  /**
   * After the fork: null once the child exec'd, else the errno error it reported, with syscall
   * "exec", or "cgroup" for its cgroup join. Read on the event loop, never blocking it.
   */
  wait(): Promise<NodeJS.ErrnoException | null>;
  /** When the fork itself failed. */
  discard(): void;
}

export function openExecStatus(): ExecStatus {
  const [readFd, writeFd] = binding().statusPipe();
  let writeOpen = true;
  const closeWrite = () => {
    if (writeOpen) closeSync(writeFd);
    writeOpen = false;
  };
  return {
    writeFd,
    wait: () => {
      // Ours must go first, or the pipe could not close at the child's exec.
      closeWrite();
      return new Promise((resolve) => {
        const chunks: Buffer[] = [];
        const reader = new PipeReader(readFd);
        const timer = setTimeout(() => reader.destroy(), EXEC_STATUS_TIMEOUT_MS);
        // A PipeReader lends its chunks: keep copies.
        reader.on('data', (chunk) => chunks.push(Buffer.from(chunk)));
        reader.on('error', () => {});
        reader.once('close', () => {
          clearTimeout(timer);
          const report = Buffer.concat(chunks);
          resolve(report.length >= 4 ? errnoError(report.readInt32LE(0)) : null);
        });
      });
    },
    discard: () => {
      closeWrite();
      closeSync(readFd);
    },
  };
}

/** The shape of the addon's errors (and Node's): code, errno, syscall. A negative report is the cgroup join's. */
function errnoError(report: number): NodeJS.ErrnoException {
  const errno = Math.abs(report);
  const syscall = report < 0 ? 'cgroup' : 'exec';
  let code: string;
  try {
    code = getSystemErrorName(-errno);
  } catch {
    code = `E${errno}`;
  }
  return Object.assign(new Error(`${syscall} ${code}`), { code, errno: -errno, syscall });
}
