import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memberGroups, passwdEntry } from '../src/user-database.js';

/**
 * The guest's user database as getpwuid and getgrouplist read it from files: against written
 * files with the corners those functions handle, and against `id` on this machine's own.
 */
let dir: string;
let passwd: string;
let group: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'conch-users-'));
  passwd = join(dir, 'passwd');
  group = join(dir, 'group');
  writeFileSync(passwd, [
    '# a comment',
    '+nisuser:x:1000:1000::/:/bin/sh',
    'root:x:0:0:root:/root:/bin/sh',
    'broken:x:1001',
    'badgid:x:1002:abc::/:/bin/sh',
    'later:x:1002:1002::/:/bin/sh',
    ':x:1003:1003::/:/bin/sh',
    'agent:x:1000:2000:Agent:/home/agent:/bin/sh',
    'dup:x:1000:3000::/:/bin/sh',
    'huge:x:4294967295:1::/:/bin/sh',
    '',
  ].join('\n'));
  writeFileSync(group, [
    'root:x:0:',
    'agent:x:2000:',
    'kvm:x:78:other,agent',
    'docker:x:79:agent',
    'again:x:79:agent',
    'agentish:x:80:agents,xagent',
    'short:x:81',
    '-nis:x:82:agent',
    'primary:x:2000:agent',
    '',
  ].join('\n'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('passwdEntry', () => {
  it('finds the first entry for a uid, as getpwuid does, past comments, NIS lines and broken records', () => {
    expect(passwdEntry(1000, passwd)).toEqual({ name: 'agent', uid: 1000, gid: 2000, home: '/home/agent' });
    expect(passwdEntry(0, passwd)).toEqual({ name: 'root', uid: 0, gid: 0, home: '/root' });
  });

  it('has nothing for a uid without a usable entry, nor for a file that is missing', () => {
    expect(passwdEntry(1001, passwd)).toBeUndefined();
    // The first entry for a uid decides, as for getpwuid, broken or not; an entry needs a name.
    expect(passwdEntry(1002, passwd)).toBeUndefined();
    expect(passwdEntry(1003, passwd)).toBeUndefined();
    expect(passwdEntry(4294967295, passwd)).toBeUndefined();
    expect(passwdEntry(5, passwd)).toBeUndefined();
    expect(passwdEntry(0, join(dir, 'missing'))).toBeUndefined();
  });
});

describe('memberGroups', () => {
  it('is the primary gid first, then each group that lists the name as a member, once', () => {
    expect(memberGroups('agent', 2000, group)).toEqual([2000, 78, 79]);
  });

  it('matches whole member names only, and lists the primary gid alone for a user in no group', () => {
    expect(memberGroups('agents', 7, group)).toEqual([7, 80]);
    expect(memberGroups('nobody-here', 7, group)).toEqual([7]);
    expect(memberGroups('agent', 7, join(dir, 'missing'))).toEqual([7]);
    // An empty member list has no members: not even a user with an empty name (root:x:0: would make it root's).
    expect(memberGroups('', 7, group)).toEqual([7]);
  });

  it("agrees with id(1) on this machine's own database, for every user in it", () => {
    const users = execFileSync('getent', ['passwd'], { encoding: 'utf8' }).trim().split('\n').map((line) => line.split(':'));
    expect(users.length).toBeGreaterThan(1);
    for (const [name, , uid] of users) {
      const entry = passwdEntry(Number(uid));
      // getent may list a later duplicate of a uid; getpwuid, like passwdEntry, takes the first.
      if (entry === undefined || entry.name !== name) continue;
      const ids = execFileSync('id', ['-G', name!], { encoding: 'utf8' }).trim().split(' ').map(Number);
      expect({ name, groups: memberGroups(entry.name, entry.gid).sort() }).toEqual({ name, groups: ids.sort() });
    }
  });
});
