/*
 * conch-exec-as UID GID PATH ARGV0 [ARG...]
 *
 * Becomes UID:GID with no supplementary groups, then executes PATH with
 * argv ARGV0 ARG... and the environment it was given. conchd starts PTY
 * commands for another user through it: node-pty's forkpty child calls
 * setgid and setuid but never setgroups, so without this the workload would
 * keep root's supplementary groups (gid 0) and read root-group files.
 *
 * A failure is printed to stderr (the command's terminal) and exits 126,
 * or 127 when PATH does not exist, as a shell would.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_id(const char* text, unsigned long* out) {
  char* end;
  errno = 0;
  unsigned long v = strtoul(text, &end, 10);
  if (errno || end == text || *end || v >= 0xffffffffUL) return -1;
  *out = v;
  return 0;
}

int main(int argc, char** argv) {
  unsigned long uid, gid;
  if (argc < 5 || parse_id(argv[1], &uid) < 0 || parse_id(argv[2], &gid) < 0) {
    fprintf(stderr, "usage: conch-exec-as UID GID PATH ARGV0 [ARG...]\n");
    return 126;
  }
  /* Groups first, then gid, then uid: after setuid we could no longer change the others. */
  if (setgroups(0, NULL) < 0 || setgid((gid_t)gid) < 0 || setuid((uid_t)uid) < 0) {
    fprintf(stderr, "conch-exec-as: cannot become %lu:%lu: %s\n", uid, gid, strerror(errno));
    return 126;
  }
  execv(argv[3], &argv[4]);
  int err = errno;
  fprintf(stderr, "conch-exec-as: cannot run %s: %s\n", argv[3], strerror(err));
  return err == ENOENT ? 127 : 126;
}
