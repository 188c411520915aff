import { readFileSync } from 'node:fs';

/** The files a user's primary and supplementary groups are read from (files only: no NSS modules). */
export const PASSWD_FILE = '/etc/passwd';
export const GROUP_FILE = '/etc/group';

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  /** The home directory field, '' when the entry has none. */
  readonly home: string;
}

/**
 * The first /etc/passwd entry for `uid`, as getpwuid finds it, or undefined. Read afresh on each
 * call: a root command in the guest may have added the user since (useradd), and the file is
 * read only for commands that run as another user.
 */
export function passwdEntry(uid: number, file = PASSWD_FILE): PasswdEntry | undefined {
  for (const fields of records(file)) {
    if (fields.length < 4 || id(fields[2]!) !== uid) continue;
    // The first entry for the uid decides, as for getpwuid: a broken one is no entry, rather
    // than a later one's name and groups.
    const gid = id(fields[3]!);
    return gid !== undefined && fields[0] !== '' ? { name: fields[0]!, uid, gid, home: fields[5] ?? '' } : undefined;
  }
  return undefined;
}

/**
 * What getgrouplist gives: `gid` first, then every /etc/group group that lists `name` as a
 * member, each once (a missing or unreadable file lists none).
 */
export function memberGroups(name: string, gid: number, file = GROUP_FILE): number[] {
  const groups = [gid];
  for (const fields of records(file)) {
    // An empty member list is no members: splitting it gives [''], which an empty name would match.
    if (name === '' || fields.length < 4 || !fields[3]!.split(',').filter(Boolean).includes(name)) continue;
    const member = id(fields[2]!);
    if (member !== undefined && !groups.includes(member)) groups.push(member);
  }
  return groups;
}

/** The colon-separated records of a passwd-format file; comments and NIS `+`/`-` lines skipped. */
function records(file: string): string[][] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((line) => line !== '' && !'#+-'.includes(line[0]!)).map((line) => line.split(':'));
}

/** A decimal id below 2^32 - 1, which setuid would take for "no change". */
function id(text: string): number | undefined {
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n < 0xffffffff ? n : undefined;
}
