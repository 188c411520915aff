import { VsockShellSession } from '@conch/shell-client';
import { startDaemon } from '../helpers/daemon-process.js';
import { defineConformanceSuite } from './suite.js';

// Every session forked from one root shares its connection, as on a virtio-serial port, where
// one byte stream carries every session.
defineConformanceSuite('VsockShellSession.fork() → conchd, all sessions on one connection', async () => {
  const daemon = await startDaemon();
  const root = new VsockShellSession(daemon.endpoint);
  await root.connect();
  return {
    open: async () => {
      const s = root.fork();
      await s.connect();
      return s;
    },
    openTerminal: (terminal, options) => root.forkTerminal(terminal, options),
    teardown: async () => {
      await root.close();
      await daemon.stop();
    },
  };
});
