import type { CommandHandle } from '@conch/shell-client';

/** Everything a command prints (a terminal's one stream, or both pipes), as text, as it comes. */
export interface FollowedOutput {
  readonly text: () => string;
  /** Resolves once `part` has been printed; rejects after `ms` with what was printed instead. */
  readonly until: (part: string, ms?: number) => Promise<void>;
  /** Resolves when the output has ended. */
  readonly done: Promise<string>;
}

export function followOutput(h: CommandHandle): FollowedOutput {
  let text = '';
  let wake: (() => void) | undefined;
  const done = (async () => {
    for await (const { data } of h) {
      text += Buffer.from(data).toString();
      wake?.();
    }
    return text;
  })();
  // A failed handle rejects `done`; whoever awaits it sees why, and nobody else hears of it.
  done.catch(() => {});
  const until = async (part: string, ms = 20_000) => {
    const deadline = Date.now() + ms;
    while (!text.includes(part)) {
      if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(part)} within ${ms} ms; the output was ${JSON.stringify(text)}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
  };
  return { text: () => text, until, done };
}
