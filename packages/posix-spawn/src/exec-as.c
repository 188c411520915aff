/*
 * conch-exec-as [--status-fd N] [--cgroup PROCS] [--user UID:GID [--groups G,...]] PATH ARGV0 [ARG...]
 *
 * Executes PATH with argv ARGV0 ARG... and the environment it was given,
 * after two things a spawner may not do itself:
 *
 * - It lets no file descriptor above 2 reach PATH. node-pty's forkpty child
 *   keeps every terminal master the daemon holds (they lack FD_CLOEXEC), so
 *   without this a workload could type into another command's terminal, a
 *   root shell's included.
 * - With --user, it becomes UID:GID with no supplementary groups, or with
 *   exactly those of --groups (a comma-separated list, which may be empty;
 *   more than the kernel's NGROUPS_MAX fails the switch with EINVAL).
 *   node-pty calls setgid and setuid but never setgroups, which would leave
 *   root's groups (gid 0) to the workload; posix_spawn cannot switch users.
 *
 * With --cgroup, it first joins the cgroup whose cgroup.procs is PROCS, so
 * that everything PATH ever starts is in it, whatever leaves its process
 * group (setsid, a double fork): the daemon kills commands by their cgroup.
 *
 * With --status-fd, a failure (of the switch or of the exec) is written to fd
 * N as an int errno before exiting (a failed cgroup join as -errno), and a
 * successful exec closes N, so the spawner can tell "could not start" from
 * "started and exited 126".
 * Failures also go to stderr, and exit 126, or 127 when PATH does not exist.
 *
 * A PATH the kernel cannot execute (ENOEXEC: no #! line) runs as a script of
 * /bin/sh, as execvp does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int status_fd = -1;

static void fail_with(int status, int err, const char* what, const char* detail, int report) {
  if (status_fd >= 0) {
    ssize_t ignored = write(status_fd, &report, sizeof report);
    (void)ignored;
  }
  fprintf(stderr, "conch-exec-as: %s %s: %s\n", what, detail, strerror(err));
  exit(status);
}

static void fail(int err, const char* what, const char* detail) {
  fail_with(err == ENOENT ? 127 : 126, err, what, detail, err);
}

static int parse_id(const char* text, char stop, const char** rest, unsigned long* out) {
  char* end;
  /* Digits only: strtoul would also take leading blanks, a sign, and wrap a negative number. */
  if (*text < '0' || *text > '9') return -1;
  errno = 0;
  unsigned long v = strtoul(text, &end, 10);
  if (errno || end == text || *end != stop || v >= 0xffffffffUL) return -1;
  *out = v;
  *rest = end + (stop ? 1 : 0);
  return 0;
}

/* Every fd above 2 closes at exec. Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC: mark them one by one. */
static void cloexec_above_stdio(void) {
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 1 << 20) max = 1 << 20;
  for (int fd = 3; fd < max; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
}

/* A comma-separated list of gids ("" for none) into a new array; -1 if it is not one. */
static int parse_groups(const char* text, gid_t** out, size_t* count) {
  size_t n = 0, max = *text ? 1 : 0;
  for (const char* c = text; *c; c++) max += *c == ',';
  gid_t* groups = calloc(max ? max : 1, sizeof *groups);
  if (!groups) return -1;
  while (n < max) {
    unsigned long gid;
    if (parse_id(text, n + 1 < max ? ',' : '\0', &text, &gid) != 0) {
      free(groups);
      return -1;
    }
    groups[n++] = (gid_t)gid;
  }
  *out = groups;
  *count = n;
  return 0;
}

static void usage(void) {
  fprintf(stderr, "usage: conch-exec-as [--status-fd N] [--cgroup PROCS] [--user UID:GID [--groups G,...]] PATH ARGV0 [ARG...]\n");
  exit(126);
}

int main(int argc, char** argv) {
  int i = 1;
  int switch_user = 0;
  unsigned long uid = 0, gid = 0;
  gid_t* groups = NULL;
  size_t group_count = 0;
  const char* cgroup = NULL;
  while (i < argc && strncmp(argv[i], "--", 2) == 0) {
    const char* rest;
    unsigned long n;
    if (strcmp(argv[i], "--status-fd") == 0 && i + 1 < argc && parse_id(argv[i + 1], '\0', &rest, &n) == 0 && n <= 0x7fffffff) {
      status_fd = (int)n;
    } else if (strcmp(argv[i], "--cgroup") == 0 && i + 1 < argc) {
      cgroup = argv[i + 1];
    } else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc && parse_id(argv[i + 1], ':', &rest, &uid) == 0 &&
               parse_id(rest, '\0', &rest, &gid) == 0) {
      switch_user = 1;
    } else if (strcmp(argv[i], "--groups") == 0 && i + 1 < argc && !groups && parse_groups(argv[i + 1], &groups, &group_count) == 0) {
      /* taken below, with --user */
    } else {
      usage();
    }
    i += 2;
  }
  if (argc - i < 2 || (groups && !switch_user)) usage();
  const char* path = argv[i];

  /* Before the user switch: joining takes write access to cgroup.procs, which root has. */
  if (cgroup) {
    int fd = open(cgroup, O_WRONLY | O_CLOEXEC);
    /* 126 whatever the errno: a cgroup that is gone (ENOENT) is no missing program (127); and
     * on the status fd as -errno, so that the spawner can tell the join from the exec. */
    if (fd < 0 || write(fd, "0", 1) != 1) fail_with(126, errno, "cannot join cgroup", cgroup, -errno);
    close(fd);
  }
  cloexec_above_stdio();
  /* Groups first, then gid, then uid: after setuid the others could no longer change. */
  if (switch_user && (setgroups(group_count, groups) < 0 || setgid((gid_t)gid) < 0 || setuid((uid_t)uid) < 0)) {
    char ids[48];
    snprintf(ids, sizeof ids, "%lu:%lu", uid, gid);
    fail(errno, "cannot become", ids);
  }
  execv(path, &argv[i + 1]);
  /* Not a binary the kernel runs, and no #! line: a shell script, as execvp takes it (POSIX),
   * and so does Node's spawn: /bin/sh PATH ARG..., argv[0] given up for the path. */
  if (errno == ENOEXEC) {
    int args = argc - (i + 2);
    char** script = calloc((size_t)args + 3, sizeof *script);
    if (script) {
      script[0] = "/bin/sh";
      script[1] = (char*)path;
      memcpy(script + 2, &argv[i + 2], (size_t)args * sizeof *script);
      execv("/bin/sh", script);
    }
    fail(ENOEXEC, "cannot run", path);
  }
  fail(errno, "cannot run", path);
  return 126;
}
