import { readFileSync, rmSync } from 'node:fs';

/** What a shell command can change that the next command in its session should see. */
export interface ShellState {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Shell variables that describe the shell process itself, not the session: they would be
 * wrong in the next command, so they never persist.
 */
const TRANSIENT = new Set(['_', 'SHLVL', 'PWD']);

/**
 * Runs `command` in `shell` and writes its final cwd and exported environment to `stateFile`:
 * once the command has finished, or from an EXIT trap when it leaves through `exit N` first.
 * The save after the command also covers a command that set an EXIT trap of its own, which
 * replaces ours (that trap still runs, at the shell's exit); only such a command that also
 * leaves through `exit` loses its state. A command killed by a signal never gets that far, so a
 * killed or hung command leaves the session's state as it was: it cannot poison the session.
 * The command string is passed as a positional parameter and run with `eval`, never spliced into
 * the script. The state is saved once (`env` is a process of its own).
 */
export function shellArgv(shell: string, command: string, stateFile: string): string[] {
  const script = [
    '__conch_state=$1; __conch_cmd=$2; shift 2',
    `__conch_save() { __conch_saved=1; { printf "%s\\0" "$PWD"; env -0; } > "$__conch_state" 2>/dev/null || :; }`,
    `trap '__conch_rc=$?; [ -n "\${__conch_saved-}" ] || __conch_save; exit $__conch_rc' EXIT`,
    'eval "$__conch_cmd"',
    '__conch_rc=$?',
    '__conch_save',
    'exit $__conch_rc',
  ].join('\n');
  return [shell, '-c', script, 'conch', stateFile, command];
}

/** Reads and removes a state file. Undefined when the command did not get as far as its trap. */
export function takeShellState(stateFile: string): ShellState | undefined {
  let text: string;
  try {
    text = readFileSync(stateFile, 'utf8');
  } catch {
    return undefined;
  } finally {
    rmSync(stateFile, { force: true });
  }
  const [cwd, ...entries] = text.split('\0');
  // An incomplete file (disk full, a shell without `env -0`) is ignored rather than half-applied.
  if (!cwd || entries.at(-1) !== '') return undefined;
  const env: Record<string, string> = {};
  for (const entry of entries.slice(0, -1)) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    if (!TRANSIENT.has(name)) env[name] = entry.slice(eq + 1);
  }
  return { cwd, env };
}

/**
 * Applies what one command changed (from `before` to `after`) onto the session's current state.
 * Only the difference is applied, so concurrent commands in one session do not undo each
 * other's `cd` or `export`.
 */
export function mergeShellState(current: ShellState, before: ShellState, after: ShellState): ShellState {
  const env = { ...current.env };
  for (const [name, value] of Object.entries(after.env)) {
    if (before.env[name] !== value) env[name] = value;
  }
  for (const name of Object.keys(before.env)) {
    if (!(name in after.env) && !TRANSIENT.has(name)) delete env[name];
  }
  return { cwd: after.cwd !== before.cwd ? after.cwd : current.cwd, env };
}
