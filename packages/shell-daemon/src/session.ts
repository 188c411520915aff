import type { DisconnectPolicy, SignalName } from '@conch/protocol';
import type { CommandSession } from '@conch/process';
import type { Command } from './command.js';

/**
 * A daemon session: the shared CommandSession state, the commands run in it, and the
 * connections that hold it. When the last holder goes, the disconnect policy decides:
 * kill its commands now, or keep everything for `keepMs` so a client can attach again.
 */
export class Session {
  readonly id: string;
  readonly core: CommandSession;
  readonly policy: DisconnectPolicy;
  readonly commands = new Map<string, Command>();
  readonly #holders = new Set<object>();
  #expiry: NodeJS.Timeout | undefined;
  #onExpire: (session: Session) => void;

  constructor(id: string, core: CommandSession, policy: DisconnectPolicy, onExpire: (session: Session) => void) {
    this.id = id;
    this.core = core;
    this.policy = policy;
    this.#onExpire = onExpire;
  }

  hold(holder: object): void {
    this.#holders.add(holder);
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
  }

  release(holder: object): void {
    if (!this.#holders.delete(holder) || this.#holders.size > 0) return;
    if (this.policy.policy === 'kill') {
      this.#onExpire(this);
      return;
    }
    this.#expiry = setTimeout(() => this.#onExpire(this), this.policy.keepMs ?? 0);
    this.#expiry.unref();
  }

  get held(): boolean {
    return this.#holders.size > 0;
  }

  /** Kills every running command in the session (group-wide, with escalation). */
  killAll(signal?: SignalName, graceMs?: number): void {
    for (const command of this.commands.values()) {
      if (!command.result) command.kill(signal, graceMs);
    }
  }

  dispose(): void {
    clearTimeout(this.#expiry);
    this.core.close();
  }
}
