import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_MESSAGE_TYPES, ConchError, DAEMON_MESSAGE_TYPES, decodeBody, encodeBody, ErrorCodes, isErrorCode, MAX_DURATION_MS, ProtocolError,
  validateClientMessage, validateDaemonMessage, type ErrorCode, type Message,
} from '../src/index.js';
import { clientArbitraries, daemonArbitraries, requiredFields, wrongKind } from './arbitraries.js';
import { plain } from './channel-harness.js';

/**
 * Property: validation rejects every mutated message with a typed ProtocolError whose `code` is
 * in the registry, and never throws anything else. Mutations: a field of the wrong kind, a
 * required field removed, an unknown type, extra nesting. Extra unknown fields are stripped.
 */

const sets = [
  { direction: 'client', arbitraries: clientArbitraries as Record<string, fc.Arbitrary<Message>>, types: CLIENT_MESSAGE_TYPES, validate: validateClientMessage },
  { direction: 'daemon', arbitraries: daemonArbitraries as Record<string, fc.Arbitrary<Message>>, types: DAEMON_MESSAGE_TYPES, validate: validateDaemonMessage },
] as const;

type Fields = Record<string, unknown>;

/** Runs the validator and returns the typed error it threw; fails on success or an untyped throw. */
function rejection(validate: (v: unknown) => unknown, value: unknown): ProtocolError {
  let thrown: unknown;
  try {
    validate(value);
  } catch (err) {
    thrown = err;
  }
  if (thrown === undefined) throw new Error(`accepted an invalid value: ${JSON.stringify(plain(value), replacer)}`);
  expect(thrown).toBeInstanceOf(ProtocolError);
  expect(thrown).toBeInstanceOf(ConchError);
  expect(isErrorCode((thrown as ProtocolError).code)).toBe(true);
  expect(Object.values(ErrorCodes)).toContain((thrown as ProtocolError).code);
  return thrown as ProtocolError;
}

function replacer(_key: string, value: unknown): unknown {
  return value instanceof Uint8Array ? `bytes(${value.length})` : value;
}

/** Both straight and after a msgpack round trip, which is how the value arrives in practice. */
function expectRejected(validate: (v: unknown) => unknown, value: unknown, code: ErrorCode): void {
  expect(rejection(validate, value).code).toBe(code);
  expect(rejection(validate, decodeBody(encodeBody(value as Message))).code).toBe(code);
}

describe.each(sets)('validation of mutated $direction messages', ({ arbitraries, types, validate }) => {
  const any = fc.oneof(...types.map((t) => arbitraries[t]!));

  it('rejects a field of the wrong kind with INVALID_MESSAGE', () => {
    const mutated = any.chain((m) => {
      const fields = m as unknown as Fields;
      return fc.constantFrom(...Object.keys(fields)).chain((name) =>
        wrongKind(fields[name]).map((value) => ({ ...fields, [name]: value })),
      );
    });
    fc.assert(fc.property(mutated, (value) => expectRejected(validate, value, ErrorCodes.INVALID_MESSAGE)), { numRuns: 1000 });
  });

  it('rejects a message with a required field removed (or nil) with INVALID_MESSAGE', () => {
    const mutated = any.chain((m) => {
      const fields = m as unknown as Fields;
      return fc.tuple(fc.constantFrom(...requiredFields[m.type]), fc.boolean()).map(([name, asNil]) => {
        const copy: Fields = { ...fields };
        // A nullable field that is already nil is removed instead.
        if (asNil && copy[name] !== null) copy[name] = null;
        else delete copy[name];
        return copy;
      });
    });
    fc.assert(
      fc.property(mutated, (value) => {
        // A nil or missing type is a message with no tag at all; that is INVALID_MESSAGE too.
        expectRejected(validate, value, ErrorCodes.INVALID_MESSAGE);
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects an unknown type, or a type of the other direction, with UNKNOWN_MESSAGE', () => {
    const other = new Set<string>(types === CLIENT_MESSAGE_TYPES ? DAEMON_MESSAGE_TYPES : CLIENT_MESSAGE_TYPES);
    for (const t of types) other.delete(t);
    const unknownType = fc.oneof(
      fc.string({ maxLength: 100 }).filter((t) => !(types as readonly string[]).includes(t)),
      fc.constantFrom(...other, '__proto__', 'constructor', 'toString', 'hasOwnProperty'),
    );
    fc.assert(
      fc.property(any, unknownType, (m, type) => {
        const error = rejection(validate, { ...(m as unknown as Fields), type });
        expect(error.code).toBe(ErrorCodes.UNKNOWN_MESSAGE);
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects extra nesting (a field, or the whole message, wrapped in an array or a map)', () => {
    const mutated = any.chain((m) => {
      const fields = m as unknown as Fields;
      // `details` is a free-form map, so a map wrapped in a map is still a valid `details`.
      const wrappable = Object.keys(fields);
      return fc.oneof(
        fc.tuple(fc.constantFrom(...wrappable), fc.boolean()).filter(([name, inMap]) => !(inMap && name === 'details')).map(([name, inMap]) => ({
          ...fields, [name]: inMap ? { [name]: fields[name] } : [fields[name]],
        })),
        fc.constant([fields]),
        fc.constant({ message: fields }),
        fc.constant({ type: fields }),
      );
    });
    fc.assert(fc.property(mutated, (value) => expectRejected(validate, value, ErrorCodes.INVALID_MESSAGE)), { numRuns: 1000 });
  });

  it('strips unknown extra fields: the validated message is exactly the original', () => {
    // Nested maps never use the key `__proto__`: the msgpack decoder refuses it (MALFORMED_FRAME).
    const extraValue = fc.oneof(
      fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }),
      fc.dictionary(fc.string().filter((k) => k !== '__proto__'), fc.integer(), { maxKeys: 3, noNullPrototype: true }),
    );
    // The `x-` prefix keeps them clear of every field any message defines.
    const extra = fc.dictionary(fc.string({ maxLength: 12 }).map((k) => `x-${k}`), extraValue, { minKeys: 1, maxKeys: 4, noNullPrototype: true });
    fc.assert(
      fc.property(any, extra, (m, more) => {
        const validated = validate(decodeBody(encodeBody({ ...m, ...more } as Message)));
        expect(plain(validated)).toEqual(plain(m));
      }),
      { numRuns: 500 },
    );
  });

  it('ExecCommand and CommandExited enforce their "exactly one of" rules', () => {
    if (types === CLIENT_MESSAGE_TYPES) {
      fc.assert(
        fc.property(clientArbitraries.ExecCommand, fc.boolean(), (m, both) => {
          const copy: Fields = { ...m };
          if (both) Object.assign(copy, { command: 'true', argv: ['true'] });
          else delete copy.command, delete copy.argv;
          expectRejected(validate, copy, ErrorCodes.INVALID_MESSAGE);
        }),
      );
    } else {
      fc.assert(
        fc.property(daemonArbitraries.CommandExited, fc.boolean(), (m, both) => {
          const copy: Fields = both ? { ...m, exitCode: 1, signal: 'SIGTERM' } : { ...m, exitCode: null, signal: null };
          expectRejected(validate, copy, ErrorCodes.INVALID_MESSAGE);
        }),
      );
    }
  });

  it('turns any decoded value whatsoever into a message or a typed ProtocolError, never another throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything({ withTypedArray: true, withNullPrototype: true, withBoxedValues: true }), any.map((m) => m as unknown)), (value) => {
        try {
          validate(value);
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
          expect(isErrorCode((err as ProtocolError).code)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('terminal sizes', () => {
  it('take 1 to 65535 cells a side (the kernel\'s 16-bit winsize), in ExecCommand, SpawnSession and Resize alike', () => {
    const exec = (cols: number, rows: number) => ({ type: 'ExecCommand', id: 1, session: 's1', argv: ['true'], pty: { cols, rows } });
    const spawn = (cols: number, rows: number) => ({ type: 'SpawnSession', id: 2, interactive: { pty: { cols, rows } } });
    const resize = (cols: number, rows: number) => ({ type: 'Resize', id: 3, command: 'c1', cols, rows });
    for (const make of [exec, spawn, resize]) {
      expect(() => validateClientMessage(make(1, 65535))).not.toThrow();
      expect(() => validateClientMessage(make(65535, 1))).not.toThrow();
      for (const [cols, rows] of [[65536, 24], [80, 65536], [0, 24], [80.5, 24], [2 ** 32 + 80, 24]] as const) {
        expect(rejection(validateClientMessage, make(cols, rows))).toMatchObject({ code: 'INVALID_MESSAGE' });
      }
    }
  });
});

describe('error paths', () => {
  it('name the exact field, whichever message or array element reached a shared validator last', () => {
    const message = (value: unknown, validate: (v: unknown) => unknown) => rejection(validate, value).message;
    const exec = (cols: unknown) => ({ type: 'ExecCommand', id: 1, session: 's1', argv: ['true'], pty: { cols, rows: 24 } });
    const spawn = (cols: unknown) => ({ type: 'SpawnSession', id: 2, interactive: { pty: { cols, rows: 24 } } });
    // The pty validator is one object shared by both messages: its cached paths must follow the caller.
    for (let i = 0; i < 3; i++) {
      expect(message(exec(0), validateClientMessage)).toBe('ExecCommand.pty.cols: expected whole cells from 1 to 65535, got 0');
      expect(message(spawn(-1), validateClientMessage)).toBe('SpawnSession.interactive.pty.cols: expected whole cells from 1 to 65535, got -1');
    }
    const info = (pid: unknown) => ({ command: 'c1', pid, argv: ['true'], pty: false, state: 'exited', exitCode: 0, signal: null, stdoutBytes: 0, stderrBytes: 0, attached: false });
    const list = (bad: number) => ({
      type: 'SessionList', id: 3,
      sessions: [{ session: 's1', cwd: '/', commands: [info(1), info(2), info(3)].map((c, i) => (i === bad ? { ...c, pid: 'x' } : c)) }],
    });
    for (const bad of [2, 0, 1]) {
      expect(message(list(bad), validateDaemonMessage)).toBe(`SessionList.sessions[0].commands[${bad}].pid: expected a non-negative integer, got "x"`);
    }
  });
});

describe('durations', () => {
  it('are taken up to MAX_DURATION_MS (2^31 - 1), the longest a timer waits, and refused above it', () => {
    const exec = (fields: object) => ({ type: 'ExecCommand', id: 1, session: 's1', argv: ['true'], ...fields });
    const messages = (ms: number) => [
      exec({ timeoutMs: ms }), exec({ killGraceMs: ms }),
      { type: 'KillCommand', id: 1, command: 'c1', graceMs: ms }, { type: 'KillSession', id: 1, session: 's1', graceMs: ms },
      { type: 'SpawnSession', id: 1, onDisconnect: { policy: 'keep', keepMs: ms } },
    ];
    expect(MAX_DURATION_MS).toBe(2 ** 31 - 1);
    for (const m of messages(MAX_DURATION_MS)) expect(() => validateClientMessage(m)).not.toThrow();
    for (const m of messages(MAX_DURATION_MS + 1)) {
      expect(rejection(validateClientMessage, m).message).toMatch(/expected a duration in milliseconds from 0 to 2147483647, got 2147483648$/);
    }
  });
});
