import { readFileSync, rmSync } from 'node:fs';

/** What a shell command can change that the next command in its session should see. */
export interface ShellState {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
}

/** What a command left in its state file: its env only when the dump of it completed. */
export interface SavedShellState {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>> | undefined;
}

/**
 * Shell variables that describe the shell process itself, not the session: they would be
 * wrong in the next command, so they never persist.
 */
const TRANSIENT = new Set(['_', 'SHLVL', 'PWD']);
/** The wrapper's own variables, which `set -a` would export along with the user's. */
const WRAPPER_PREFIX = '__conch_';
/** Written after the env dump, only if `env` succeeded: an entry no real one can be (no `=`). */
const ENV_COMPLETE = '.';

const persists = (name: string) => !TRANSIENT.has(name) && !name.startsWith(WRAPPER_PREFIX);

/**
 * Runs `command` in `shell` and writes its final cwd and exported environment to `stateFile`:
 * once the command has finished, or from an EXIT trap when it leaves through `exit N` first.
 * The save after the command also covers a command that set an EXIT trap of its own, which
 * replaces ours (that trap still runs, at the shell's exit); only such a command that also
 * leaves through `exit` loses its state. A command killed by a signal never gets that far, so a
 * killed or hung command leaves the session's state as it was: it cannot poison the session.
 * The command string is passed as a positional parameter and run with `eval`, never spliced into
 * the script. The state is saved once.
 *
 * `env` is run by the path the daemon found (`envPath`), not through the command's PATH: a
 * command that broke its PATH (`export PATH=~/bin`) would otherwise fail the dump, and a session
 * must not lose its environment to that. The wrapper keeps out of the user's way: the eval is on
 * line 1, so the shell's line numbers are the script's own, and under `set -x` what runs after
 * it is not traced (a group with stderr to /dev/null; `set +x` inside it cannot be seen).
 */
export function shellArgv(shell: string, command: string, stateFile: string, envPath = 'env'): string[] {
  const script = [
    // A value inherited through the environment (`set -a` in an earlier command) must not count.
    '__conch_saved=; __conch_state=$1; __conch_env=$2; __conch_cmd=$3; shift 3; ' +
      `__conch_save() { __conch_saved=1; { printf "%s\\0" "\${PWD:-$(pwd)}"; "$__conch_env" -0 && printf "${ENV_COMPLETE}\\0"; } > "$__conch_state" 2>/dev/null || :; }; ` +
      `trap '{ __conch_rc=$?; set +x; } 2>/dev/null; [ -n "$__conch_saved" ] || __conch_save; exit "$__conch_rc"' EXIT; ` +
      'eval "$__conch_cmd"',
    '{ __conch_rc=$?; set +x; } 2>/dev/null',
    '__conch_save',
    'exit "$__conch_rc"',
  ].join('\n');
  return [shell, '-c', script, 'conch', stateFile, envPath, command];
}

/**
 * Reads and removes a state file. Undefined when the command did not get as far as its save;
 * `env` undefined when its env dump did not complete (then only the cwd is taken).
 */
export function takeShellState(stateFile: string): SavedShellState | undefined {
  let text: string;
  try {
    text = readFileSync(stateFile, 'utf8');
  } catch {
    return undefined;
  } finally {
    rmSync(stateFile, { force: true });
  }
  const [cwd, ...entries] = text.split('\0');
  // No cwd (nothing written, disk full): nothing is applied rather than half of it.
  if (!cwd || entries.length === 0) return undefined;
  if (entries.at(-1) !== '' || entries.at(-2) !== ENV_COMPLETE) return { cwd, env: undefined };
  const env: Record<string, string> = {};
  for (const entry of entries.slice(0, -2)) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    if (persists(name)) env[name] = entry.slice(eq + 1);
  }
  return { cwd, env };
}

/**
 * Applies what one command changed (from `before` to `after`) onto the session's current state.
 * Only the difference is applied, so concurrent commands in one session do not undo each
 * other's `cd` or `export`.
 */
export function mergeShellState(current: ShellState, before: ShellState, after: SavedShellState): ShellState {
  const cwd = after.cwd !== before.cwd ? after.cwd : current.cwd;
  if (after.env === undefined) return { cwd, env: current.env };
  const env = { ...current.env };
  for (const [name, value] of Object.entries(after.env)) {
    if (before.env[name] !== value) env[name] = value;
  }
  for (const name of Object.keys(before.env)) {
    if (!(name in after.env) && persists(name)) delete env[name];
  }
  return { cwd, env };
}
