import { LocalProcessShellSession } from '@conch/shell-client';
import { defineConformanceSuite } from './suite.js';

defineConformanceSuite('LocalProcessShellSession', async () => ({
  open: async () => new LocalProcessShellSession(),
  openTerminal: (terminal, options) => LocalProcessShellSession.openTerminal(terminal, options),
}));
