import { closeSync } from 'node:fs';
import { binding } from './binding.js';

/** How long to wait for conch-exec-as to reach its exec: it has nothing to wait for, so this is never reached but by a stopped child. */
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
  /** After the fork: null when the child exec'd, else the errno error it reported (syscall "exec"). */
  wait(): NodeJS.ErrnoException | null;
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
      return binding().readStatus(readFd, EXEC_STATUS_TIMEOUT_MS);
    },
    discard: () => {
      closeWrite();
      closeSync(readFd);
    },
  };
}
