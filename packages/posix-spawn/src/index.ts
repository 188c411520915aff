export { posixSpawnAvailability, type Availability } from './availability.js';
export { POSIX_SPAWN_ADDON_ENV } from './binding.js';
export { groupExists } from './group-exists.js';
export { PipeReader } from './pipe-reader.js';
export { EXEC_AS_ENV, execAsArgv, execAsHelper, type ExecAsOptions, type SpawnUser } from './exec-as.js';
export { openExecStatus, type ExecStatus } from './exec-status.js';
export { posixSpawn, type PosixChild, type PosixSpawnExit, type PosixSpawnOptions } from './posix-spawn.js';
