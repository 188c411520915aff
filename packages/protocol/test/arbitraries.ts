import fc from 'fast-check';
import {
  ErrorCodes, SIGNALS, type ClientMessage, type ClientMessageType, type DaemonMessage, type DaemonMessageType,
} from '../src/index.js';

/**
 * fast-check arbitraries for every wire message, one per type, derived field by field from
 * src/messages.ts and within the validators' rules (src/validate.ts): C strings carry no NUL,
 * ids and refs are non-empty, counts are safe integers, signals are names. The mapped types
 * below make the compiler insist on an arbitrary for every type in each union.
 */

type ByType<M extends { type: string }> = { [K in M['type']]: fc.Arbitrary<Extract<M, { type: K }>> };

/** Strings as they survive UTF-8: any code point, never a lone surrogate. */
const text = fc.string({ unit: 'binary', maxLength: 40 });
/** A string that can become a C string: no NUL. */
const cstr = text.filter((s) => !s.includes('\0'));
/** A daemon-chosen id: non-empty. */
const ref = fc.string({ unit: 'binary', minLength: 1, maxLength: 24 });
const uint = fc.oneof(fc.nat(1000), fc.maxSafeNat());
/** Timeouts and graces: up to MAX_DURATION_MS, the longest a timer waits. */
const duration = fc.oneof(fc.nat(1000), fc.nat(2 ** 31 - 1), fc.constant(2 ** 31 - 1));
const positive = fc.oneof(fc.integer({ min: 1, max: 1 << 20 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }));
const id = uint;
const signal = fc.constantFrom(...(Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]));
const bytes = fc.uint8Array({ maxLength: 64 });
/** Map keys the msgpack decoder accepts: it refuses `__proto__` outright. */
const key = text.filter((k) => k !== '__proto__');
const envName = fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }).filter((k) => !/[=\0]/.test(k) && k !== '__proto__');
const env = fc.dictionary(envName, cstr, { maxKeys: 5, noNullPrototype: true });
const argv = fc.array(cstr, { minLength: 1, maxLength: 5 });
const capabilities = fc.array(text, { maxLength: 4 });
const pty = fc.record(
  { cols: fc.integer({ min: 1, max: 1000 }), rows: fc.integer({ min: 1, max: 1000 }), term: cstr },
  { requiredKeys: ['cols', 'rows'] },
);
/** Free-form values (Error details): JSON-like, with bytes, and no -0 (msgpack writes it as 0). */
const detailValue = fc.oneof(
  text, fc.integer(), fc.boolean(), fc.constant(null), bytes, fc.double({ noNaN: true }).filter((x) => !Object.is(x, -0)),
  fc.array(text, { maxLength: 3 }),
);

export const clientArbitraries: ByType<ClientMessage> = {
  Hello: fc.record(
    {
      type: fc.constant('Hello'), minVersion: uint, maxVersion: uint, nonce: uint, maxFrameBytes: positive,
      capabilities, client: text, token: text,
    },
    { requiredKeys: ['type', 'minVersion', 'maxVersion', 'nonce', 'maxFrameBytes', 'capabilities', 'client'] },
  ),
  Ping: fc.record({ type: fc.constant('Ping'), id }),
  SpawnSession: fc.record(
    {
      type: fc.constant('SpawnSession'), id, cwd: cstr, env, clearEnv: fc.boolean(), shell: ref, uid: uint, gid: uint,
      onDisconnect: fc.record({ policy: fc.constantFrom('kill', 'keep'), keepMs: duration }, { requiredKeys: ['policy'] }),
      interactive: fc.record({ argv, pty }, { requiredKeys: ['pty'] }),
    },
    { requiredKeys: ['type', 'id'] },
  ),
  ExecCommand: fc
    .tuple(
      fc.oneof(fc.record({ command: cstr }), fc.record({ argv })),
      fc.record(
        {
          type: fc.constant('ExecCommand'), id, session: ref, cwd: cstr, env, stdin: fc.boolean(), pty, timeoutMs: duration,
          killGraceMs: duration, maxOutputBytes: uint, window: positive, uid: uint, gid: uint,
        },
        { requiredKeys: ['type', 'id', 'session'] },
      ),
    )
    .map(([what, rest]) => ({ ...rest, ...what })),
  Input: fc.record({ type: fc.constant('Input'), command: ref, data: bytes }),
  EndInput: fc.record({ type: fc.constant('EndInput'), command: ref }),
  Credit: fc.record({ type: fc.constant('Credit'), command: ref, fd: fc.constantFrom(1 as const, 2 as const), bytes: positive }),
  Resize: fc.record({ type: fc.constant('Resize'), id, command: ref, cols: fc.integer({ min: 1, max: 0xffff }), rows: fc.integer({ min: 1, max: 0xffff }) }),
  Signal: fc.record({ type: fc.constant('Signal'), id, command: ref, signal }),
  KillCommand: fc.record(
    { type: fc.constant('KillCommand'), id, command: ref, signal, graceMs: duration },
    { requiredKeys: ['type', 'id', 'command'] },
  ),
  KillSession: fc.record(
    { type: fc.constant('KillSession'), id, session: ref, signal, graceMs: duration, keepSession: fc.boolean() },
    { requiredKeys: ['type', 'id', 'session'] },
  ),
  Attach: fc.record(
    { type: fc.constant('Attach'), id, command: ref, stdoutOffset: uint, stderrOffset: uint, window: positive },
    { requiredKeys: ['type', 'id', 'command', 'stdoutOffset', 'stderrOffset'] },
  ),
  Detach: fc.record({ type: fc.constant('Detach'), id, command: ref, session: ref }, { requiredKeys: ['type', 'id'] }),
  ListSessions: fc.record({ type: fc.constant('ListSessions'), id }),
};

const commandInfo = fc
  .tuple(
    fc.oneof(
      fc.record({ state: fc.constant('running' as const), exitCode: fc.constant(null), signal: fc.constant(null) }),
      fc.record({ state: fc.constant('exited' as const), exitCode: uint, signal: fc.constant(null) }),
      fc.record({ state: fc.constant('exited' as const), exitCode: fc.constant(null), signal }),
    ),
    fc.record({ command: ref, pid: uint, argv: fc.array(text, { maxLength: 4 }), pty: fc.boolean(), stdoutBytes: uint, stderrBytes: uint, attached: fc.boolean() }),
  )
  .map(([state, rest]) => ({ ...rest, ...state }));

export const daemonArbitraries: ByType<DaemonMessage> = {
  Welcome: fc.record({
    type: fc.constant('Welcome'), nonce: uint, version: uint, daemonVersion: text, bootId: text, instanceId: ref, capabilities,
    limits: fc.record({ maxSessions: uint, maxProcesses: uint, maxFrameBytes: uint, maxQueuedStdinBytes: uint, ringBytes: uint, defaultWindowBytes: uint }),
  }),
  Pong: fc.record({ type: fc.constant('Pong'), id }),
  SessionSpawned: fc.record(
    { type: fc.constant('SessionSpawned'), id, session: ref, command: ref, pid: uint },
    { requiredKeys: ['type', 'id', 'session'] },
  ),
  CommandStarted: fc.record({ type: fc.constant('CommandStarted'), id, command: ref, pid: uint, stdinWindow: uint }),
  StreamOutput: fc.record({ type: fc.constant('StreamOutput'), command: ref, fd: fc.constantFrom(1 as const, 2 as const), offset: uint, data: bytes }),
  CommandExited: fc
    .tuple(
      fc.oneof(fc.record({ exitCode: uint, signal: fc.constant(null) }), fc.record({ exitCode: fc.constant(null), signal })),
      fc.record({
        type: fc.constant('CommandExited'), command: ref, timedOut: fc.boolean(), truncated: fc.boolean(), durationMs: uint,
        stdoutBytes: uint, stderrBytes: uint,
      }),
    )
    .map(([exit, rest]) => ({ ...rest, ...exit })),
  Credit: fc.record({ type: fc.constant('Credit'), command: ref, fd: fc.constant(0 as const), bytes: positive }),
  Attached: fc.record({ type: fc.constant('Attached'), id, command: ref, session: ref, stdoutDropped: uint, stderrDropped: uint }),
  SessionList: fc.record({
    type: fc.constant('SessionList'), id,
    sessions: fc.array(fc.record({ session: ref, cwd: text, commands: fc.array(commandInfo, { maxLength: 3 }) }), { maxLength: 3 }),
  }),
  Ok: fc.record({ type: fc.constant('Ok'), id }),
  Error: fc.record(
    {
      type: fc.constant('Error'), code: fc.constantFrom(...Object.values(ErrorCodes)), message: text, id, command: ref,
      details: fc.dictionary(key, detailValue, { maxKeys: 4, noNullPrototype: true }),
    },
    { requiredKeys: ['type', 'code', 'message'] },
  ),
};

/**
 * Fields whose removal must make the message invalid: the required fields of each interface in
 * messages.ts (plus `type`). `command`/`argv` of ExecCommand are "exactly one of", tested apart.
 */
export const requiredFields: { [K in ClientMessageType | DaemonMessageType]: readonly string[] } = {
  Hello: ['type', 'minVersion', 'maxVersion', 'nonce', 'maxFrameBytes', 'capabilities', 'client'],
  Ping: ['type', 'id'],
  SpawnSession: ['type', 'id'],
  ExecCommand: ['type', 'id', 'session'],
  Input: ['type', 'command', 'data'],
  EndInput: ['type', 'command'],
  Credit: ['type', 'command', 'fd', 'bytes'],
  Resize: ['type', 'id', 'command', 'cols', 'rows'],
  Signal: ['type', 'id', 'command', 'signal'],
  KillCommand: ['type', 'id', 'command'],
  KillSession: ['type', 'id', 'session'],
  Attach: ['type', 'id', 'command', 'stdoutOffset', 'stderrOffset'],
  Detach: ['type', 'id'],
  ListSessions: ['type', 'id'],
  Welcome: ['type', 'nonce', 'version', 'daemonVersion', 'bootId', 'instanceId', 'capabilities', 'limits'],
  Pong: ['type', 'id'],
  SessionSpawned: ['type', 'id', 'session'],
  CommandStarted: ['type', 'id', 'command', 'pid', 'stdinWindow'],
  StreamOutput: ['type', 'command', 'fd', 'offset', 'data'],
  CommandExited: ['type', 'command', 'exitCode', 'signal', 'timedOut', 'truncated', 'durationMs', 'stdoutBytes', 'stderrBytes'],
  Attached: ['type', 'id', 'command', 'session', 'stdoutDropped', 'stderrDropped'],
  SessionList: ['type', 'id', 'sessions'],
  Ok: ['type', 'id'],
  Error: ['type', 'code', 'message'],
};

export const anyClientMessage: fc.Arbitrary<ClientMessage> = fc.oneof(...Object.values(clientArbitraries) as fc.Arbitrary<ClientMessage>[]);
export const anyDaemonMessage: fc.Arbitrary<DaemonMessage> = fc.oneof(...Object.values(daemonArbitraries) as fc.Arbitrary<DaemonMessage>[]);

/**
 * A value of a different kind than `value`, never null or undefined (an optional field treats
 * both as absent, which would be valid).
 */
export function wrongKind(value: unknown): fc.Arbitrary<unknown> {
  const kinds: Record<string, fc.Arbitrary<unknown>> = {
    number: fc.oneof(fc.integer(), fc.constant(-1), fc.constant(1.5), fc.constant(Number.MAX_SAFE_INTEGER + 2)),
    string: fc.string({ maxLength: 8 }),
    boolean: fc.boolean(),
    bytes: fc.uint8Array({ maxLength: 8 }),
    array: fc.array(fc.integer(), { maxLength: 3 }),
    map: fc.dictionary(key, fc.integer(), { maxKeys: 3, noNullPrototype: true }),
  };
  const kind = value === null ? 'null'
    : value instanceof Uint8Array ? 'bytes'
    : Array.isArray(value) ? 'array'
    : typeof value === 'object' ? 'map'
    : typeof value;
  // A nullable field holding null accepts a number or string in its place (and CommandExited
  // then fails its exactly-one rule); pick kinds that no nullable field accepts.
  const excluded = kind === 'null' ? ['number', 'string'] : [kind];
  return fc.oneof(...Object.entries(kinds).filter(([k]) => !excluded.includes(k)).map(([, arb]) => arb));
}
