import { onTestFinished } from 'vitest';
import { VsockShellSession, type VsockSessionOptions } from '@conch/shell-client';

/**
 * A session on the guest's conchd that is closed when the current test ends, however it ends:
 * passed, failed, or timed out (vitest runs onTestFinished hooks after a timeout too, while the
 * test body may still be waiting). QEMU's virtio-serial chardev serves one host connection at a
 * time, so a session that one failed test left open would lock every later test out of the
 * guest; close() always lets go of the connection (see VsockShellSession.close).
 */
export function guestSession(endpoint: string, options?: VsockSessionOptions): VsockShellSession {
  const session = new VsockShellSession(endpoint, options);
  onTestFinished(async (ctx) => {
    const stillOpen = session.status.state === 'ready';
    await session.close();
    if (stillOpen && ctx.task.result?.state === 'fail') {
      console.warn(`e2e: closed a session that "${ctx.task.name}" left open, so that the next tests can reach the guest`);
    }
  });
  return session;
}
