import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConchError, parseEndpoint } from '@conch/protocol';
import type { LogLevel } from './config.js';
import { Daemon } from './daemon.js';
import { createLogger } from './logger.js';
import { DAEMON_VERSION } from './version.js';

const USAGE = `usage: conchd --listen ENDPOINT [--listen ENDPOINT…] [--token-file F] [--allow-cid N]… [--log-level L]

  --listen ENDPOINT   unix:PATH | vsock:PORT | virtio-serial:NAME | stdio (repeatable)
  --token-file F      require every client to present the token stored in F
  --allow-cid N       also accept vsock peers with CID N (default: only the host, CID 2)
  --log-level L       debug | info | warn | error | silent (default info); logs are JSON lines on stderr
`;

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
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
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

  const log = createLogger(logLevel);
  const daemon = new Daemon({ listen, ...(token !== undefined ? { token } : {}), allowCids, logLevel }, log);
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
  log.info('stopped');
  // Let stderr drain and handles close rather than exiting mid-write. A handle we do not own
  // (stdin held by a TTY, a stuck fd) must not keep a stopped daemon alive: exit after a bound.
  process.exitCode = 0;
  setTimeout(() => process.exit(), STOPPED_EXIT_BOUND_MS).unref();
}

void main();
