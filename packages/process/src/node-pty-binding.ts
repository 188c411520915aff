import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The part of node-pty's native addon (`pty.node`) that conch uses.
 *
 * RISK: this is node-pty's internal binding, not its public API. We use it because the public
 * `spawn()` owns the master fd through a stream that loses the tail of the output
 * (microsoft/node-pty#72, see pty-master.ts), and the binding is the only way to get the fd
 * without that stream. The signatures below are those of node-pty 1.1.0 (src/unix/pty.cc,
 * src/native.d.ts); the package pins that version, and `loadPtyBinding` checks the shape so a
 * different build reports PTY_UNAVAILABLE instead of misbehaving. Keep every use of the
 * binding in this module and spawn-pty.ts.
 */
export interface PtyBinding {
  /** forkpty(3): the child is a session leader with the slave as its controlling terminal. */
  fork(
    file: string, args: string[], env: string[], cwd: string, cols: number, rows: number,
    uid: number, gid: number, utf8: boolean, helperPath: string,
    onExit: (exitCode: number, signal: number) => void,
  ): { fd: number; pid: number; pty: string };
  /** TIOCSWINSZ on the master, which sends SIGWINCH to the terminal's foreground group. */
  resize(fd: number, cols: number, rows: number): void;
}

export interface LoadedPtyBinding {
  readonly binding: PtyBinding;
  /** macOS forks through node-pty's `spawn-helper`, next to the addon; unused on Linux. */
  readonly helperPath: string;
}

/** Environment variable naming node-pty's directory or its `pty.node`, for bundles without node_modules. */
export const NODE_PTY_ENV = 'CONCH_NODE_PTY';

let loaded: LoadedPtyBinding | Error | undefined;

/** Loads the binding once; a failure is remembered and returned, never thrown, so pipes keep working. */
export function loadPtyBinding(): LoadedPtyBinding | Error {
  loaded ??= tryLoad();
  return loaded;
}

function tryLoad(): LoadedPtyBinding | Error {
  try {
    const override = process.env[NODE_PTY_ENV];
    const require = localRequire();
    const file = override ? findAddon(override) : findAddon(dirname(require.resolve('node-pty/package.json')));
    const binding = require(file) as Partial<PtyBinding>;
    if (typeof binding.fork !== 'function' || typeof binding.resize !== 'function') {
      return new Error(`${file} is not a node-pty 1.1 binding (no fork/resize)`);
    }
    return { binding: binding as PtyBinding, helperPath: join(dirname(file), 'spawn-helper') };
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** `path` is a `pty.node`, or a node-pty directory holding one where node-pty itself looks. */
function findAddon(path: string): string {
  if (path.endsWith('.node')) return path;
  if (!statSync(path).isDirectory()) throw new Error(`${path} is neither a directory nor a .node file`);
  const candidates = ['build/Release', 'build/Debug', `prebuilds/${process.platform}-${process.arch}`, '.'].map((d) => join(path, d, 'pty.node'));
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`no pty.node under ${path} (looked in ${candidates.join(', ')})`);
  return found;
}

/**
 * A require for this module. The ESM build has `import.meta.url`; the CJS build (where esbuild
 * leaves `import.meta` empty) has the module's own `require`.
 */
function localRequire(): NodeJS.Require {
  const url = (import.meta as { url?: string }).url;
  return url ? createRequire(url) : require;
}
