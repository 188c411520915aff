import { createConnection } from 'node:net';
import {
  DEFAULT_MAX_FRAME_BYTES, FrameChannel, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN, validateDaemonMessage,
} from '@conch/protocol';

/**
 * One protocol handshake (Hello → Welcome) on a Unix socket, then close. Rejects if the socket
 * is not there yet or does not answer: the caller retries.
 */
export function handshake(path) {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    socket.once('error', reject);
    socket.once('connect', () => {
      const channel = new FrameChannel(socket, { maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, validate: validateDaemonMessage });
      channel.on('message', (m) => {
        if (m.type !== 'Welcome') return;
        resolve(m);
        channel.destroy();
      });
      channel.on('close', () => reject(new Error('closed before Welcome')));
      channel.send({
        type: 'Hello', minVersion: PROTOCOL_VERSION_MIN, maxVersion: PROTOCOL_VERSION_MAX, nonce: 1,
        maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, capabilities: [], client: 'conch-bench',
      });
    });
  });
}
