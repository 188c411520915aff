// The far end for the framing benchmark and the Node floors of exec, stream and PTY, run as a
// child process so that both ends have a core, as conchd and its client do. It listens on these
// Unix sockets under the directory in argv[2]:
//   raw-echo    echoes bytes back
//   frame-echo  answers each Input frame with a StreamOutput frame carrying the same data
//   raw-stream  on a line "N SIZE\n", writes N bytes in SIZE-byte writes
//   frame-stream  the same, as StreamOutput frames of SIZE data bytes
//   spawn-echo  on each byte, posix_spawns /bin/true (our addon, as conchd does) and writes one
//               byte back once it has exited and both its output pipes have closed
//   pipe-relay  on a line "N\n", posix_spawns `head -c N /dev/zero`, relays its stdout (read by
//               PipeReader, as conchd does) with backpressure, then ends the connection
//   pty-relay   the same on a terminal: node-pty's spawn, onData written to the socket, paused
//               while the socket is full, the connection ended at the exit
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
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

/** Calls `run(n)` once per connection, for its first line "N\n". */
function onLine(socket, run) {
  let text = '';
  const read = (d) => {
    text += d.toString('latin1');
    if (!text.includes('\n')) return;
    socket.off('data', read);
    run(Number(text.slice(0, text.indexOf('\n'))));
  };
  socket.on('data', read);
}

/** `head` as the other contenders find it, through PATH: posix_spawn takes a path. */
const HEAD = (process.env.PATH ?? '/usr/bin:/bin').split(':').map((dir) => join(dir || '.', 'head')).find((path) => existsSync(path)) ?? '/usr/bin/head';

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
await listen('pipe-relay', (s) =>
  onLine(s, (n) => {
    const child = posixSpawn({ file: HEAD, argv: ['head', '-c', String(n), '/dev/zero'], env: process.env, cwd: process.cwd(), stdin: false });
    // A far end that goes away mid-run must not leave head blocked on a pipe nobody reads (and
    // once head is reaped its pid may be anyone's: never signal it then).
    let exited = false;
    void child.exited.then(() => (exited = true));
    s.on('error', () => {});
    s.once('close', () => {
      if (!exited) process.kill(child.pid, 'SIGKILL');
    });
    child.stdout.on('error', (err) => s.destroy(err));
    // A PipeReader lends its chunk until the listener returns; a queued write needs its own.
    child.stdout.on('data', (d) => {
      if (!s.write(Buffer.from(d))) {
        child.stdout.pause();
        s.once('drain', () => child.stdout.resume());
      }
    });
    child.stdout.once('close', () => s.end());
  }),
);
// Loaded on first use: the other sockets must work where node-pty does not.
const require = createRequire(import.meta.url);
await listen('pty-relay', (s) =>
  onLine(s, (n) => {
    const term = require('node-pty').spawn('head', ['-c', String(n), '/dev/zero'], { cols: 80, rows: 24, encoding: null, env: process.env });
    let ended = false;
    s.on('error', () => {});
    s.once('close', () => {
      if (!ended) term.kill('SIGKILL');
    });
    term.onData((d) => {
      if (ended) return;
      if (!s.write(d)) {
        term.pause();
        s.once('drain', () => term.resume());
      }
    });
    term.onExit(() => {
      ended = true;
      s.end();
    });
  }),
);
process.send?.('ready');
process.on('disconnect', () => process.exit(0));
