import type { ReadStream, WriteStream } from 'node:tty';

/**
 * The user's terminal as `conch shell` uses it: raw mode while a remote shell runs, and a
 * restore that runs exactly once however conch leaves: normal return, error, signal, or
 * process exit (a synchronous `exit` hook is the last resort, after an uncaught error).
 */
export class LocalTerminal {
  readonly #input: NodeJS.ReadStream & Partial<ReadStream>;
  readonly #output: NodeJS.WriteStream & Partial<WriteStream>;
  #raw = false;
  #resize: (() => void) | undefined;
  readonly #onExit = () => this.restore();

  constructor(input: NodeJS.ReadStream, output: NodeJS.WriteStream) {
    this.#input = input;
    this.#output = output;
  }

  /** The window size, or 80x24 when output is not a terminal. */
  size(): { cols: number; rows: number } {
    return { cols: this.#output.columns || 80, rows: this.#output.rows || 24 };
  }

  /** Raw mode, when input is a terminal (otherwise input is passed on as it comes, like ssh -t). */
  enterRaw(): void {
    if (this.#raw || !this.#input.isTTY || !this.#input.setRawMode) return;
    this.#input.setRawMode(true);
    this.#raw = true;
    process.once('exit', this.#onExit);
  }

  /** Calls `listener` with the new size on every SIGWINCH (Node's 'resize' on a TTY stdout). */
  onResize(listener: (cols: number, rows: number) => void): void {
    if (!this.#output.isTTY) return;
    this.#resize = () => {
      const { cols, rows } = this.size();
      listener(cols, rows);
    };
    this.#output.on('resize', this.#resize);
  }

  restore(): void {
    if (this.#resize) this.#output.off('resize', this.#resize);
    this.#resize = undefined;
    if (!this.#raw) return;
    this.#raw = false;
    process.off('exit', this.#onExit);
    this.#input.setRawMode?.(false);
  }
}
