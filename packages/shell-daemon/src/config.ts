import type { DaemonLimits } from '@conch/protocol';
import { DEFAULT_MAX_FRAME_BYTES } from '@conch/protocol';

export interface DaemonConfig {
  /** Endpoints to listen on: unix:PATH, stdio, vsock:PORT, virtio-serial:NAME. */
  readonly listen: readonly string[];
  /** When set, every Hello must carry this token (compared in constant time). */
  readonly token?: string;
  /** vsock peer CIDs accepted besides the host (CID 2). */
  readonly allowCids?: readonly number[];
  readonly logLevel?: LogLevel;
  readonly limits?: Partial<DaemonLimits>;
  /** Default for sessions that name no disconnect policy. @default keep for 60 s */
  readonly detachKeepMs?: number;
  /** How long an exited command's status stays available for attach and list. @default 300 s */
  readonly exitRetentionMs?: number;
  /**
   * Exited commands kept at most (within the retention); past it the oldest of the session that
   * holds the most are forgotten first, so a burst of short commands cannot grow the daemon, nor
   * forget another session's exits. @default 4096
   */
  readonly maxExited?: number;
  /**
   * Output bytes that exited commands may hold between them (the tails their clients have not
   * acknowledged, the history of those nobody followed); past it, as for maxExited.
   * @default 64 MiB
   */
  readonly maxExitedBytes?: number;
  /** Spawns allowed in flight at once; more wait in a queue. @default 8 */
  readonly spawnConcurrency?: number;
  /** Grace between SIGTERM and SIGKILL at shutdown. @default 2000 */
  readonly shutdownGraceMs?: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export const DEFAULT_LIMITS: DaemonLimits = {
  maxSessions: 1024,
  maxProcesses: 1024,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxQueuedStdinBytes: 1 << 20,
  ringBytes: 4 << 20,
  defaultWindowBytes: 4 << 20,
};

export const DEFAULT_DETACH_KEEP_MS = 60_000;
export const DEFAULT_EXIT_RETENTION_MS = 300_000;
/** Four times maxProcesses: every running command can exit while its client is away, and then some. */
export const DEFAULT_MAX_EXITED = 4096;
/** Sixteen full rings (4 MiB each): a handful of commands whose client went away mid-stream. */
export const DEFAULT_MAX_EXITED_BYTES = 64 << 20;
