import type { ClientMessage, DaemonMessage } from '../src/index.js';

/** One representative of every message type; the golden vectors are generated from these. */
export const clientSamples: Record<ClientMessage['type'], ClientMessage> = {
  Hello: { type: 'Hello', minVersion: 1, maxVersion: 1, nonce: 7, maxFrameBytes: 1048576, capabilities: ['pty'], client: 'conch/0.1.0', token: 's3cret' },
  Ping: { type: 'Ping', id: 1 },
  SpawnSession: { type: 'SpawnSession', id: 2, cwd: '/work', env: { LANG: 'C.UTF-8' }, onDisconnect: { policy: 'keep', keepMs: 60000 } },
  ExecCommand: { type: 'ExecCommand', id: 3, session: 's1', command: 'echo hi; exit 3', stdin: true, timeoutMs: 5000, maxOutputBytes: 65536 },
  Input: { type: 'Input', command: 'c1', data: new Uint8Array([0x68, 0x69, 0x0a, 0x00, 0xff]) },
  EndInput: { type: 'EndInput', command: 'c1' },
  Credit: { type: 'Credit', command: 'c1', fd: 1, bytes: 262144 },
  Resize: { type: 'Resize', id: 4, command: 'c1', cols: 120, rows: 40 },
  Signal: { type: 'Signal', id: 5, command: 'c1', signal: 'SIGINT' },
  KillCommand: { type: 'KillCommand', id: 6, command: 'c1', signal: 'SIGTERM', graceMs: 2000 },
  KillSession: { type: 'KillSession', id: 7, session: 's1' },
  Attach: { type: 'Attach', id: 8, command: 'c1', stdoutOffset: 1024, stderrOffset: 0 },
  Detach: { type: 'Detach', id: 9, command: 'c1' },
  ListSessions: { type: 'ListSessions', id: 10 },
};

export const daemonSamples: Record<Exclude<DaemonMessage['type'], 'Credit'> | 'StdinCredit', DaemonMessage> = {
  Welcome: {
    type: 'Welcome', nonce: 7, version: 1, daemonVersion: '0.1.0', bootId: '6f1c0b9e-2d4e-4f7a-9a51-3c7e1b0d2f44', instanceId: 'k3J9x2',
    capabilities: ['pty', 'attach'],
    limits: { maxSessions: 1024, maxProcesses: 1024, maxFrameBytes: 1048576, maxQueuedStdinBytes: 1048576, ringBytes: 1048576, defaultWindowBytes: 1048576 },
  },
  Pong: { type: 'Pong', id: 1 },
  SessionSpawned: { type: 'SessionSpawned', id: 2, session: 's1' },
  CommandStarted: { type: 'CommandStarted', id: 3, command: 'c1', pid: 4242, stdinWindow: 65536 },
  StreamOutput: { type: 'StreamOutput', command: 'c1', fd: 2, offset: 10, data: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) },
  CommandExited: { type: 'CommandExited', command: 'c1', exitCode: null, signal: 'SIGKILL', timedOut: true, truncated: false, durationMs: 5003, stdoutBytes: 3, stderrBytes: 0 },
  StdinCredit: { type: 'Credit', command: 'c1', fd: 0, bytes: 4096 },
  Attached: { type: 'Attached', id: 8, command: 'c1', session: 's1', stdoutDropped: 512, stderrDropped: 0 },
  SessionList: {
    type: 'SessionList', id: 10,
    sessions: [{ session: 's1', cwd: '/work', commands: [{ command: 'c1', pid: 4242, argv: ['sh', '-c', 'sleep 9'], pty: false, state: 'running', exitCode: null, signal: null, stdoutBytes: 0, stderrBytes: 0, attached: true }] }],
  },
  Ok: { type: 'Ok', id: 4 },
  Error: { type: 'Error', id: 3, code: 'UNKNOWN_SESSION', message: 'no session "s9"', details: { session: 's9' } },
};
