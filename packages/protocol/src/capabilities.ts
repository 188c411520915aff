/** Capability strings a daemon may announce in Welcome. Clients check before using a feature. */
export const Capabilities = {
  /** PTY commands and interactive sessions (node-pty loaded). */
  PTY: 'pty',
  /** Attach/Detach/ListSessions with replay from a ring buffer. */
  ATTACH: 'attach',
  /** Commands may run as another uid/gid (the daemon runs as root). */
  SET_UID: 'setuid',
  /** KillSession with `keepSession`: the commands are killed, the session (cwd, env) stays. */
  KILL_KEEPS_SESSION: 'kill-keeps-session',
  /**
   * Each command runs in a cgroup of its own, so kills and signals reach every process it
   * started, also those that left its process group (setsid, a double fork). Without it, they
   * reach the process group alone.
   */
  CGROUP_KILL: 'cgroup-kill',
  /**
   * A `uid` without a `gid` runs as that user: its passwd group and supplementary groups. A
   * daemon without it keeps its own gid (root's) for such a command.
   */
  USER_GROUPS: 'user-groups',
} as const;

export type Capability = (typeof Capabilities)[keyof typeof Capabilities];

/** Capability strings a client may announce in Hello. A daemon checks before sending what needs one. */
export const ClientCapabilities = {
  /**
   * Takes the real-time signal names (SIGRTMIN … SIGRTMAX) in CommandExited and SessionList. A
   * client without it would refuse such a frame; it is told SIGKILL for those deaths, as daemons
   * before these names did.
   */
  RT_SIGNALS: 'rt-signals',
} as const;
