import { ConchError } from '@conch/protocol';
import { execCommand } from './cli/exec-command.js';
import { EXIT_USAGE, exitStatusOfError } from './cli/exit-codes.js';
import { parseSeconds, type GlobalOptions } from './cli/global-options.js';
import { shellCommand } from './cli/shell-command.js';
import { statusCommand } from './cli/status-command.js';
import { CLIENT_VERSION } from './version.js';

const USAGE = `usage: conch [--connect ENDPOINT] [--token-file F] [--connect-timeout S] [-v] COMMAND …

  conch --connect ENDPOINT exec [-i|--stdin] [--pty] [--cwd D] [--env K=V]… [--timeout S] [-u|--user UID[:GID]] -- CMD [ARGS…]
  conch --connect ENDPOINT status [--json]
  conch --connect ENDPOINT shell

ENDPOINT: unix:PATH | hybrid-vsock:PATH:PORT | vsock:CID:PORT | local   (default: $CONCH_ENDPOINT)
Exit status: the command's own, 128+N when killed by signal N, 69 when the daemon is unavailable.
`;

type Subcommand = (args: string[], global: GlobalOptions) => Promise<number>;

/** Subcommands by name. */
export const SUBCOMMANDS = new Map<string, Subcommand>([
  ['exec', execCommand],
  ['status', statusCommand],
  ['shell', shellCommand],
]);

/** Splits `conch [global options] SUBCOMMAND [args]`: global options end at the first positional. */
function parseGlobal(argv: string[]): { global: GlobalOptions; name: string | undefined; rest: string[] } {
  let connect: string | undefined;
  let tokenFile: string | undefined;
  let connectTimeoutMs: number | undefined;
  let verbose = false;
  let i = 0;
  const value = (flag: string) => {
    const v = argv[++i];
    if (v === undefined) throw new ConchError('INVALID_ARGUMENT', `${flag} needs a value`);
    return v;
  };
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '--connect' || flag === '-c') connect = inline ?? value(flag);
    else if (flag === '--token-file') tokenFile = inline ?? value(flag);
    else if (flag === '--connect-timeout') connectTimeoutMs = parseSeconds(inline ?? value(flag), flag);
    else if (flag === '-v' || flag === '--verbose') verbose = true;
    else if (flag === '-h' || flag === '--help') return { global: { connect, tokenFile, connectTimeoutMs, verbose }, name: 'help', rest: [] };
    else if (flag === '--version') return { global: { connect, tokenFile, connectTimeoutMs, verbose }, name: 'version', rest: [] };
    else if (flag.startsWith('-')) throw new ConchError('INVALID_ARGUMENT', `unknown option ${flag}`);
    else break;
  }
  return { global: { connect, tokenFile, connectTimeoutMs, verbose }, name: argv[i], rest: argv.slice(i + 1) };
}

export async function main(argv: string[]): Promise<number> {
  try {
    const { global, name, rest } = parseGlobal(argv);
    if (name === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (name === 'version') {
      process.stdout.write(`${CLIENT_VERSION}\n`);
      return 0;
    }
    const run = name === undefined ? undefined : SUBCOMMANDS.get(name);
    if (!run) {
      process.stderr.write(`conch: ${name === undefined ? 'missing command' : `unknown command ${JSON.stringify(name)}`}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    return await run(rest, global);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`conch: ${message}\n`);
    if (!(err instanceof ConchError) && (err as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS')) return EXIT_USAGE;
    return exitStatusOfError(err);
  }
}

// Output nobody reads any more (`conch status | head -c 1`) ends conch as SIGPIPE would end a C
// program, rather than as an unhandled 'error' event; `exec` handles it itself first.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    // Alone only: a subcommand listening too (exec) ends its command first and exits itself.
    if (err.code === 'EPIPE' && stream.listenerCount('error') === 1) process.exit(128 + 13);
  });
}

void main(process.argv.slice(2)).then((status) => {
  // exitCode, not exit(): stdout may still be draining into a pipe.
  process.exitCode = status;
});
