import { VsockShellSession } from '@conch/shell-client';
import { startDaemon } from '../helpers/daemon-process.js';
import { defineConformanceSuite } from './suite.js';

defineConformanceSuite('VsockShellSession → conchd over unix:', async () => {
  const daemon = await startDaemon();
  return {
    open: async () => {
      const s = new VsockShellSession(daemon.endpoint);
      await s.connect();
      return s;
    },
    openTerminal: (terminal, options) => VsockShellSession.openTerminal(daemon.endpoint, terminal, options),
    teardown: async () => {
      await daemon.stop();
    },
  };
});
