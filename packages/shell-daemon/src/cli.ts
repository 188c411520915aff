import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { commandCgroups, setCgroupMode } from '@conch/process';
import { ConchError, MAX_DURATION_MS, MIN_MAX_FRAME_BYTES, parseEndpoint } from '@conch/protocol';
import type { LogLevel } from './config.js';
import { Daemon } from './daemon.js';
import { createLogger } from './logger.js';
import { DAEMON_VERSION } from './version.js';

const USAGE = `usage: conchd --listen ENDPOINT [--listen ENDPOINT…] [--token-file F] [--allow-cid N]… [--log-level L]

  --listen ENDPOINT   unix:PATH | vsock:PORT | vsock:CID:PORT | virtio-serial:NAME | stdio (repeatable)
  --token-file F      require every client to present the token stored in F
  --allow-cid N       also accept vsock peers with CID N (default: only the host, CID 2)
  --log-level L       debug | info | warn | error | silent (default info); logs are JSON lines on stderr
  --cgroups MODE      auto | require | off (default auto): run each command in a cgroup of its own,
                      so that kills reach what left its process group; require refuses to start
                      without cgroup2 (mounted, and writable by conchd); off (or CONCH_CGROUPS=off
                      in its environment) does without

Limits (defaults in parentheses):
  --max-sessions N        live sessions (1024)
  --max-processes N       concurrently running commands (1024)
  --max-frame-bytes N     largest frame accepted (1048576)
  --max-queued-stdin N    stdin bytes queued per command (1048576)
  --ring-bytes N          replay ring per output stream (4194304)
  --window-bytes N        default output credit per stream (4194304)
  --detach-keep S         seconds a session outlives its client, when the client asks to keep it (60)
  --exit-retention S      seconds an exited command's status stays available (300)
  --max-exited N          exited commands kept within that time; the oldest of the session
                          holding the most go first (4096)
  --max-exited-bytes N    output bytes those may hold between them; the same go first (67108864)
`;

const LIMIT_FLAGS = {
  'max-sessions': 'maxSessions',
  'max-processes': 'maxProcesses',
  'max-frame-bytes': 'maxFrameBytes',
  'max-queued-stdin': 'maxQueuedStdinBytes',
  'ring-bytes': 'ringBytes',
  'window-bytes': 'defaultWindowBytes',
} as const;

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** How long a stopped daemon waits for its remaining handles before exiting anyway. */
const STOPPED_EXIT_BOUND_MS = 1000;

/** Exit status for bad usage, as in sysexits.h. */
const EX_USAGE = 64;
/** Exit status when a listener cannot be opened. */
const EX_UNAVAILABLE = 69;

function fail(message: string, status = EX_USAGE): never {
  process.stderr.write(`conchd: ${message}\n`);
  process.exit(status);
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        listen: { type: 'string', multiple: true },
        'token-file': { type: 'string' },
        'allow-cid': { type: 'string', multiple: true },
        'log-level': { type: 'string', default: 'info' },
        cgroups: { type: 'string', default: 'auto' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        ...Object.fromEntries(Object.keys(LIMIT_FLAGS).map((flag) => [flag, { type: 'string' as const }])),
        'detach-keep': { type: 'string' },
        'exit-retention': { type: 'string' },
        'max-exited': { type: 'string' },
        'max-exited-bytes': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    return fail(`${(err as Error).message}\n\n${USAGE}`);
  }
}

// A virtio-serial port parks one libuv pool thread in read() (see listeners/virtio-serial.ts).
// The pool is created on first use, so raising its size here, before any I/O, still applies.
process.env.UV_THREADPOOL_SIZE ??= '8';

// V8 doubles its young generation, up to 2 × 16 MiB, each time as many bytes have survived
// scavenges as it holds, and a daemon that keeps a record per exited command always has
// survivors. Measured over 10k sequential execs (interleaved A/B): RSS 67 → 98 MB as it grew,
// 61 → 72 MB held at its startup size; exec latency and daemon CPU within 1–2% (noise), as was
// streaming throughput. Only a startup flag (--max-semi-space-size) caps it outright, but conchd
// is started as `node …/conchd.js` by its launchers and tests alike; the growth factor is read
// each time V8 would grow the space, so setting it here still applies.
setFlagsFromString('--semi-space-growth-factor=1');
// After each full collection V8 sets the next old-generation limit by a factor it picks from
// GC and mutator speed (1.1–4×), so a heap of retained exit records plus garbage ran on to the
// next mark-compact: 10k sequential execs ended anywhere in 72–94 MB depending on where that
// fell. A fixed 20% (read at each such resize, so it applies from here) ended at 72–74 MB in
// each run; 1,000-concurrent bursts took the same wall time with and without (interleaved A/B).
setFlagsFromString('--heap-growing-percent=20');

async function main(): Promise<void> {
  const opts = parse(process.argv.slice(2));
  if (opts.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (opts.version) {
    process.stdout.write(`${DAEMON_VERSION}\n`);
    return;
  }
  const listen = opts.listen ?? [];
  if (listen.length === 0) fail(`at least one --listen is required\n\n${USAGE}`);
  for (const text of listen) {
    try {
      parseEndpoint(text);
    } catch (err) {
      fail((err as Error).message);
    }
  }
  const logLevel = opts['log-level'] as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) fail(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const cgroups = opts.cgroups;
  if (cgroups !== 'auto' && cgroups !== 'require' && cgroups !== 'off') fail('--cgroups must be one of auto, require, off');
  // Before anything spawns. (Not through CONCH_CGROUPS: the daemon's environment is where
  // sessions start theirs from.)
  setCgroupMode(cgroups);
  const allowCids = (opts['allow-cid'] ?? []).map((text) => {
    if (!/^\d+$/.test(text) || Number(text) > 0xffffffff) fail(`--allow-cid expects a CID number, got ${JSON.stringify(text)}`);
    return Number(text);
  });
  let token: string | undefined;
  if (opts['token-file'] !== undefined) {
    try {
      // Trailing newlines are what editors and `echo` add; they are not part of the secret.
      token = readFileSync(opts['token-file'], 'utf8').replace(/[\r\n]+$/, '');
    } catch (err) {
      fail(`cannot read token file: ${(err as Error).message}`, EX_UNAVAILABLE);
    }
    if (token === '') fail(`token file ${opts['token-file']} is empty`);
  }

  const limits: Partial<Record<(typeof LIMIT_FLAGS)[keyof typeof LIMIT_FLAGS], number>> = {};
  for (const [flag, key] of Object.entries(LIMIT_FLAGS)) {
    const text = (opts as Record<string, unknown>)[flag] as string | undefined;
    if (text === undefined) continue;
    if (!/^\d+$/.test(text) || Number(text) < 1) fail(`--${flag} expects a positive integer, got ${JSON.stringify(text)}`);
    limits[key] = Number(text);
  }
  if (limits.maxFrameBytes !== undefined && limits.maxFrameBytes < MIN_MAX_FRAME_BYTES) fail(`--max-frame-bytes must be at least ${MIN_MAX_FRAME_BYTES}`);
  const seconds = (flag: 'detach-keep' | 'exit-retention') => {
    const text = opts[flag];
    if (text === undefined) return undefined;
    if (!/^\d+(\.\d+)?$/.test(text)) fail(`--${flag} expects seconds, got ${JSON.stringify(text)}`);
    const ms = Math.round(Number(text) * 1000);
    // A timer cannot wait longer; Node would fire one at once.
    if (ms > MAX_DURATION_MS) fail(`--${flag} is at most ${Math.floor(MAX_DURATION_MS / 1000)} seconds (about 24.8 days), got ${text}`);
    return ms;
  };
  const detachKeepMs = seconds('detach-keep');
  const exitRetentionMs = seconds('exit-retention');
  const count = (flag: 'max-exited' | 'max-exited-bytes') => {
    const text = opts[flag];
    if (text === undefined) return undefined;
    if (!/^\d+$/.test(text)) fail(`--${flag} expects a count, got ${JSON.stringify(text)}`);
    return Number(text);
  };
  const maxExited = count('max-exited');
  const maxExitedBytes = count('max-exited-bytes');

  const log = createLogger(logLevel);
  const daemon = new Daemon(
    {
      listen, allowCids, logLevel, limits,
      ...(token !== undefined ? { token } : {}),
      ...(detachKeepMs !== undefined ? { detachKeepMs } : {}),
      ...(exitRetentionMs !== undefined ? { exitRetentionMs } : {}),
      ...(maxExited !== undefined ? { maxExited } : {}),
      ...(maxExitedBytes !== undefined ? { maxExitedBytes } : {}),
    },
    log,
  );
  const shutdown = (signal: string) => {
    log.info('signal received', { signal });
    void daemon.stop();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // A peer that vanishes mid-write must not take the daemon down with EPIPE.
  process.on('SIGPIPE', () => {});
  try {
    await daemon.start();
  } catch (err) {
    const message = err instanceof ConchError ? err.message : String((err as Error)?.message ?? err);
    log.error('cannot start', { error: message });
    fail(message, EX_UNAVAILABLE);
  }
  log.info('ready', { version: DAEMON_VERSION, pid: process.pid, endpoints: daemon.endpoints, instanceId: daemon.instanceId });
  await daemon.stopped;
  // The daemon killed its commands and what those it still knew of left running; this is for
  // the rest (commands it had forgotten), and removes the cgroups.
  const cgroupsLeft = commandCgroups();
  if (!(cgroupsLeft instanceof Error)) cgroupsLeft.destroy();
  log.info('stopped');
  // Let stderr drain and handles close rather than exiting mid-write. A handle we do not own
  // (stdin held by a TTY, a stuck fd) must not keep a stopped daemon alive: exit after a bound.
  process.exitCode = 0;
  setTimeout(() => process.exit(), STOPPED_EXIT_BOUND_MS).unref();
}

void main();
