import { StringDecoder } from 'node:string_decoder';
import type { OutputFd } from '@conch/protocol';

/**
 * Splits chunked output into lines per stream. A `\r\n` that straddles two chunks is still one
 * terminator, and a multi-byte character split across chunks is decoded whole.
 */
export async function* splitLines(
  chunks: AsyncIterable<{ readonly fd: OutputFd; readonly data: Uint8Array }>,
): AsyncGenerator<{ fd: OutputFd; line: string }> {
  const decoders = { 1: new StringDecoder('utf8'), 2: new StringDecoder('utf8') };
  const partial = { 1: '', 2: '' };
  for await (const { fd, data } of chunks) {
    const text = partial[fd] + decoders[fd].write(Buffer.from(data.buffer, data.byteOffset, data.length));
    const parts = text.split('\n');
    partial[fd] = parts.pop()!;
    for (const part of parts) yield { fd, line: part.endsWith('\r') ? part.slice(0, -1) : part };
  }
  for (const fd of [1, 2] as const) {
    const rest = partial[fd] + decoders[fd].end();
    if (rest !== '') yield { fd, line: rest.endsWith('\r') ? rest.slice(0, -1) : rest };
  }
}
