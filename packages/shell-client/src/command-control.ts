import type { OutputFd, SignalName } from '@conch/protocol';

/**
 * What a CommandHandle asks of its backend (a daemon connection, or a local process). Keeping
 * this narrow is what lets both backends share one handle and one set of semantics.
 */
export interface CommandControl {
  /** Resolves once the bytes are accepted (stdin credit was available). */
  write(data: Uint8Array): Promise<void>;
  end(): Promise<void>;
  signal(signal: SignalName): Promise<void>;
  kill(signal: SignalName, graceMs: number | undefined): Promise<void>;
  resize(cols: number, rows: number): Promise<void>;
  /** The consumer took `bytes` of stream `fd`: grant the producer that much more. */
  consumed(fd: OutputFd, bytes: number): void;
  /** Stop receiving output; the command keeps running and can be attached again. */
  detach(): Promise<void>;
}
