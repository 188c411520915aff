import { closeSync, constants, openSync } from 'node:fs';

/**
 * Opens the slave side of a new terminal in this process and keeps it open until the returned
 * function is called, which spawn-pty does once the process has exited.
 *
 * Why: many programs close their terminal fds before they exit (GNU tools close stdout and
 * stderr in an atexit handler). When the last slave fd closes, the next read of the master says
 * EIO; Node destroys the master socket on that read error, which closes the master fd, which
 * hangs the terminal up, and the kernel sends SIGHUP to the session leader: the program, still
 * running its exit handlers. A `cat` that read ^D and would have exited 0 was reported as killed
 * by SIGHUP, in about a third of back-to-back runs. With one slave fd held here, EIO can come
 * only after the release, that is after the exit; the kernel still hands over every buffered
 * byte before it reports EIO (see pty-master.ts), so no output is lost.
 *
 * A terminal that cannot be reopened (already gone) is simply not held. The fd is O_CLOEXEC
 * (libuv opens every file so), so no other child inherits it and keeps the terminal alive.
 */
export function holdTerminal(path: string): () => void {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
  } catch {
    fd = undefined;
  }
  return () => {
    if (fd === undefined) return;
    const held = fd;
    // Cleared first: a second release must never close an fd number that is someone else's by now.
    fd = undefined;
    try {
      closeSync(held);
    } catch {
      // Already closed: nothing to release.
    }
  };
}
