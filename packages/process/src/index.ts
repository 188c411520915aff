export { CommandSession, type CommandRequest, type CommandSessionOptions } from './command-session.js';
export { defaultShell } from './default-shell.js';
export { DEFAULT_LINGER_MS, Execution, type ExecutionOptions, type ExecutionResult, type OutputSink } from './execution.js';
export { groupAlive, signalExistingGroup, signalGroup } from './process-group.js';
export { mergeShellState, shellArgv, takeShellState, type ShellState } from './shell-state.js';
export { SPAWN_IMPL_ENV, describeSpawn, spawnImplementation, spawnPipes, type SpawnImplementation } from './spawn-pipes.js';
export { ptyAvailable, spawnPty } from './spawn-pty.js';
export type { OutputStream, ProcessExit, ProcessSpec, PtyProcess, SpawnedProcess } from './spawned-process.js';
export { DEFAULT_KILL_GRACE_MS, terminateGroup } from './terminate.js';
