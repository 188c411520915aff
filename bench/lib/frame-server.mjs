// The far end for the framing benchmark, run as a child process so that both ends have a core,
// as conchd and its client do. It listens on four Unix sockets under the directory in argv[2]:
//   raw-echo    echoes bytes back
//   frame-echo  answers each Input frame with a StreamOutput frame carrying the same data
//   raw-stream  on a line "N SIZE\n", writes N bytes in SIZE-byte writes
//   frame-stream  the same, as StreamOutput frames of SIZE data bytes
//   spawn-echo  on each byte, posix_spawns /bin/true (our addon, as conchd does) and writes one
//               byte back once it has exited and both its output pipes have closed
import { createServer } from 'node:net';
import { join } from 'node:path';
import { posixSpawn } from '@conch/posix-spawn';
import { DEFAULT_MAX_FRAME_BYTES, FrameChannel, encodeFrame, validateClientMessage } from '@conch/protocol';

const dir = process.argv[2];

function listen(name, onConnection) {
  return new Promise((resolve) => createServer(onConnection).listen(join(dir, name), resolve));
}

/** Reads one request line ("N SIZE\n") at a time and calls `send(total, size)` for each. */
function onRequests(socket, send) {
  let text = '';
  socket.on('data', (d) => {
    text += d.toString('latin1');
    let nl;
    while ((nl = text.indexOf('\n')) !== -1) {
      const [total, size] = text.slice(0, nl).split(' ').map(Number);
      text = text.slice(nl + 1);
      send(total, size);
    }
  });
}

/** Writes `total` bytes as `make(offset, n)` buffers, waiting for drain when the socket asks. */
function writeAll(socket, total, size, make) {
  let offset = 0;
  const more = () => {
    while (offset < total) {
      const n = Math.min(size, total - offset);
      const ok = socket.write(make(offset, n));
      offset += n;
      if (!ok) return socket.once('drain', more);
    }
  };
  more();
}

const payload = Buffer.alloc(1 << 20, 0x61);

await listen('raw-echo', (s) => s.on('data', (d) => s.write(d)));
await listen('frame-echo', (s) => {
  const channel = new FrameChannel(s, { maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, validate: validateClientMessage });
  let offset = 0;
  channel.on('message', (m) => {
    channel.send({ type: 'StreamOutput', command: m.command, fd: 1, offset, data: m.data });
    offset += m.data.length;
  });
});
await listen('raw-stream', (s) => onRequests(s, (total, size) => writeAll(s, total, size, (_, n) => payload.subarray(0, n))));
await listen('frame-stream', (s) =>
  onRequests(s, (total, size) =>
    writeAll(s, total, size, (offset, n) => encodeFrame({ type: 'StreamOutput', command: 'c1-bench', fd: 1, offset, data: payload.subarray(0, n) })),
  ),
);
await listen('spawn-echo', (s) =>
  s.on('data', (d) => {
    for (let i = 0; i < d.length; i++) {
      const child = posixSpawn({ file: '/bin/true', argv: ['/bin/true'], env: process.env, cwd: process.cwd(), stdin: false });
      const closed = (stream) => new Promise((resolve) => stream.resume().once('close', resolve));
      void Promise.all([child.exited, closed(child.stdout), closed(child.stderr)]).then(() => s.write(d.subarray(i, i + 1)));
    }
  }),
);
process.send?.('ready');
process.on('disconnect', () => process.exit(0));
