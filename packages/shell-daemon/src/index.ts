export { DEFAULT_DETACH_KEEP_MS, DEFAULT_EXIT_RETENTION_MS, DEFAULT_LIMITS, DEFAULT_MAX_EXITED, type DaemonConfig, type LogLevel } from './config.js';
export { Daemon } from './daemon.js';
export type { AcceptStream, Listener, PeerInfo } from './listeners/listener.js';
export { createLogger, type LogFields, type Logger } from './logger.js';
export { DAEMON_VERSION } from './version.js';
