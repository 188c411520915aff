import type { CommandHandle } from './command-handle.js';
import { execVia } from './exec.js';
import type { ExecResult } from './exec-result.js';
import type { ExecOptions, SpawnOptions } from './options.js';
import type { CommandLine, ShellSession } from './shell-session.js';
import type { SessionStatus } from './status.js';
import { validateCommand } from './validate-options.js';

/**
 * What every backend shares: exec() is spawn() plus collection, so that buffering, input,
 * abort and reject semantics cannot drift apart between backends.
 */
export abstract class SessionBase implements ShellSession {
  abstract readonly endpoint: string;
  abstract readonly status: SessionStatus;
  abstract connect(): Promise<SessionStatus>;
  abstract spawn(command: CommandLine, options?: SpawnOptions): Promise<CommandHandle>;
  abstract killAll(signal?: string, graceMs?: number): Promise<void>;
  abstract close(): Promise<void>;

  exec(command: CommandLine, options?: ExecOptions & { encoding?: 'utf8' }): Promise<ExecResult<string>>;
  exec(command: CommandLine, options: ExecOptions & { encoding: 'buffer' }): Promise<ExecResult<Uint8Array>>;
  exec(command: CommandLine, options?: ExecOptions): Promise<ExecResult<string | Uint8Array>>;
  async exec(command: CommandLine, options: ExecOptions = {}): Promise<ExecResult<string | Uint8Array>> {
    validateCommand(command, options);
    return execVia((c, o) => this.spawn(c, o), command, options);
  }
}
