import type { DaemonMessage, OutputFd } from '@conch/protocol';

/** The side of a connection that a command streams to. */
export interface Subscriber {
  /** Sends one message; false means the transport is backed up and the caller should wait for a pump. */
  send(message: DaemonMessage): boolean;
  /**
   * Sends one StreamOutput whose data is `data` joined, without joining it; returns what send()
   * does. `written`, when given, is called once the transport no longer holds `data`: written
   * out, or dropped with the connection.
   */
  sendOutput(command: string, fd: OutputFd, offset: number, data: readonly Uint8Array[], written?: () => void): boolean;
  /** True while the transport's write buffer is over its high-water mark. */
  readonly congested: boolean;
  /** Largest data payload per StreamOutput frame that the peer accepts. */
  readonly maxChunkBytes: number;
  /**
   * Calls `command.pump()` once the transport has drained. A command that stopped sending
   * because the transport was congested asks for this; nothing else is pumped on a drain.
   */
  pumpOnDrain(command: { pump(): void }): void;
}
