import { describe, expect, it } from 'vitest';
import { ErrorCodes, validateDaemonMessage } from '../src/index.js';

describe('Error frames', () => {
  it("take a code this version lacks, as a newer daemon's may be (adding one keeps the protocol version)", () => {
    for (const code of [ErrorCodes.UNKNOWN_COMMAND, 'COMMAND_FROM_THE_FUTURE', 'X']) {
      expect(validateDaemonMessage({ type: 'Error', code, message: 'm', id: 3 })).toMatchObject({ code, id: 3 });
    }
  });

  it('refuse what is not an error code at all', () => {
    for (const code of ['lower_case', '', '1ABC', 'WITH SPACE', 7, null, 'A'.repeat(65)]) {
      expect(() => validateDaemonMessage({ type: 'Error', code, message: 'm' })).toThrow(expect.objectContaining({ code: 'INVALID_MESSAGE' }));
    }
  });
});
