/*
 * Spawning without fork(), for a daemon whose exec latency is the product.
 *
 * libuv spawns with fork(), which copies the parent's page tables: the
 * larger the daemon's heap, the slower every exec (DESIGN §6: 2.0 ms for
 * Node's spawn against 0.7 ms for posix_spawn, 33 ms with a 1 GiB heap).
 * glibc's posix_spawn uses clone(CLONE_VM|CLONE_VFORK), whose cost does not
 * grow with the parent. This addon spawns the same way, itself (pipes,
 * /dev/null stdin, a new session, a working directory, default signal
 * dispositions, no leaked fds, and a cgroup to join before the exec, which
 * posix_spawn cannot do), and reports the exit through a pidfd watched by the
 * event loop, since libuv reaps only the children it spawned itself.
 *
 * Errors are JS Error objects carrying `code` (the errno name), `errno` and
 * `syscall`, the shape of Node's own spawn errors.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* ---- errors ----------------------------------------------------------- */

static napi_value errno_error(napi_env env, int err, const char* syscall) {
  const char* code = uv_err_name(-err);
#ifdef __GLIBC__
#if __GLIBC_PREREQ(2, 32)
  /* libuv names only the errnos it maps (no ENOEXEC, ECHILD, …): "Unknown system error -8" is no code. */
  const char* name = strncmp(code, "Unknown", 7) == 0 ? strerrorname_np(err) : NULL;
  if (name) code = name;
#endif
#endif
  char message[160];
  snprintf(message, sizeof message, "%s %s (%s)", syscall, code, strerror(err));

  napi_value msg, error, v;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "code", v);
  napi_create_int32(env, -err, &v);
  napi_set_named_property(env, error, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "syscall", v);
  return error;
}

static napi_value throw_errno(napi_env env, int err, const char* syscall) {
  napi_throw(env, errno_error(env, err, syscall));
  return NULL;
}

static napi_value throw_type(napi_env env, const char* message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return NULL;
}

/* ---- argument helpers --------------------------------------------------- */

/* A malloc'd NUL-terminated copy of a JS string, or NULL (with a TypeError thrown). */
static char* get_string(napi_env env, napi_value value, const char* what) {
  size_t len;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) {
    throw_type(env, what);
    return NULL;
  }
  char* s = malloc(len + 1);
  if (!s) {
    throw_errno(env, ENOMEM, "malloc");
    return NULL;
  }
  napi_get_value_string_utf8(env, value, s, len + 1, &len);
  /* execve would silently cut a string at an embedded NUL: refuse it instead. */
  if (strlen(s) != len) {
    free(s);
    throw_type(env, "strings passed to posix_spawn must not contain NUL bytes");
    return NULL;
  }
  return s;
}

static void free_strings(char** list) {
  if (!list) return;
  for (char** p = list; *p; p++) free(*p);
  free(list);
}

/* A NULL-terminated array of malloc'd copies of a JS array of strings. */
static char** get_strings(napi_env env, napi_value array, const char* what) {
  uint32_t n;
  bool is_array;
  if (napi_is_array(env, array, &is_array) != napi_ok || !is_array || napi_get_array_length(env, array, &n) != napi_ok) {
    throw_type(env, what);
    return NULL;
  }
  char** list = calloc((size_t)n + 1, sizeof *list);
  if (!list) {
    throw_errno(env, ENOMEM, "malloc");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    if (napi_get_element(env, array, i, &item) != napi_ok || !(list[i] = get_string(env, item, what))) {
      free_strings(list);
      return NULL;
    }
  }
  return list;
}

static void close_pair(int fds[2]) {
  for (int i = 0; i < 2; i++) {
    if (fds[i] >= 0) close(fds[i]);
    fds[i] = -1;
  }
}

/* ---- spawn ---------------------------------------------------------------- */

#define STATUS_FD 3

/*
 * What the child needs, prepared by the parent: with CLONE_VM the child runs on this memory,
 * and it may call nothing that allocates or locks (another thread of the daemon may hold
 * malloc's lock), only system calls.
 */
typedef struct child_plan {
  const char* path;
  char** argv;
  char** envp;
  const char* cwd;
  int in;     /* becomes fd 0; -1 for /dev/null */
  int out;    /* fd 1 */
  int err;    /* fd 2 */
  int status; /* fd 3, or -1 */
  int cgroup; /* an open cgroup.procs for the child to join by writing, or -1 */
  int close_limit; /* -1 where close_range works; else one past the highest fd open in the parent */
  volatile int error; /* the errno of the step that failed; 0 once the exec succeeded */
  const char* volatile step; /* which, for the error's syscall: "cgroup" for the join, else "posix_spawn" */
} child_plan;

/* fd onto `target`, not close-on-exec there (dup2 of an fd onto itself would leave the flag). */
static int move_fd(int fd, int target) {
  if (fd == target) return fcntl(fd, F_SETFD, 0);
  return dup2(fd, target) < 0 ? -1 : 0;
}

/* Every fd from `low` on closes now (fds of ours are close-on-exec already; this is for any a
 * library opened without). Before Linux 5.9 there is no close_range: then mark them one by one,
 * up to the highest fd the parent found open (Node raises RLIMIT_NOFILE to its hard limit, so
 * going by the limit could mean a million fcntl calls per spawn). */
static void close_from(int low, int limit) {
  if (limit < 0) {
    syscall(SYS_close_range, (unsigned)low, ~0U, 0);
    return;
  }
  for (int fd = low; fd < limit; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* -1 where close_range works; else one past the highest open fd (read in the parent, where
 * opendir may allocate). */
static int close_limit(void) {
  static int works = -1;
  if (works < 0) works = syscall(SYS_close_range, ~0U, ~0U, 0) == 0;
  if (works) return -1;
  int highest = 2;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 1 << 16;
  for (struct dirent* e; (e = readdir(dir));) {
    int fd = atoi(e->d_name);
    if (fd > highest) highest = fd;
  }
  closedir(dir);
  return highest + 1;
}

static int child_main(void* arg) {
  child_plan* c = arg;
  /* Every signal came blocked from the parent, so no handler of the daemon's could run here on
   * the memory we share; handlers go back to their defaults before anything is unblocked.
   * (glibc refuses SIGKILL, SIGSTOP and its own two with EINVAL: nothing to reset there.) */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, NULL);
  /* Into the command's cgroup before the program runs, so that nothing it forks, setsid or
   * double fork included, is ever outside it: "0" is the writer itself. */
  if (c->cgroup >= 0 && write(c->cgroup, "0", 1) != 1) {
    c->step = "cgroup";
    goto fail;
  }
  if (setsid() < 0) goto fail;
  int in = c->in >= 0 ? c->in : open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in < 0 || move_fd(in, 0) < 0 || move_fd(c->out, 1) < 0 || move_fd(c->err, 2) < 0 ||
      (c->status >= 0 && move_fd(c->status, STATUS_FD) < 0)) {
    goto fail;
  }
  if (chdir(c->cwd) < 0) goto fail;
  /* Belt and braces: an fd some library opened without O_CLOEXEC must not reach the workload. */
  close_from(c->status >= 0 ? STATUS_FD + 1 : 3, c->close_limit);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(c->path, c->argv, c->envp);
fail:
  c->error = errno ? errno : EINVAL;
  _exit(127);
}

/* Moves an fd of ours to 4 or above, so that no dup2 in the child onto 0..3 can overwrite it. */
static int above_stdio(int* fd) {
  if (*fd < 0 || *fd > STATUS_FD) return 0;
  int moved = fcntl(*fd, F_DUPFD_CLOEXEC, STATUS_FD + 1);
  if (moved < 0) return -1;
  close(*fd);
  *fd = moved;
  return 0;
}

/* Children started into a cgroup, by the way they got there: what joinByWrite's tests check. */
static double born_in_cgroup = 0, joined_by_write = 0;

/* x86-64 only: the trampoline below is the one part of this file that is per architecture, and
 * no other has been run. Elsewhere (arm64 too) children join their cgroup by the write in
 * child_main, which works everywhere and costs a kernel RCU grace period now and then. */
#if defined(__x86_64__)
#include <linux/sched.h>
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define HAVE_CLONE3_TRAMPOLINE 1

/*
 * clone3 that runs fn(arg) in the child on the stack in `args`, as glibc's clone() does for
 * clone: glibc 2.36 has no clone3 wrapper, and the child of a raw syscall() would return into C
 * frames on a stack it does not have. The child never returns to C here; the parent gets the
 * pid, or -errno.
 */
static long clone3_run(struct clone_args* args, int (*fn)(void*), void* arg) {
  register long rax __asm__("rax") = SYS_clone3;
  register struct clone_args* rdi __asm__("rdi") = args;
  register long rsi __asm__("rsi") = sizeof *args;
  /* Callee-saved, so the child still has them after the syscall. */
  register int (*r12)(void*) __asm__("r12") = fn;
  register void* r13 __asm__("r13") = arg;
  __asm__ volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xor %%ebp, %%ebp\n\t"
      "mov %%r13, %%rdi\n\t"
      "call *%%r12\n\t"
      "mov %%eax, %%edi\n\t"
      "mov $60, %%eax\n\t" /* exit, had fn returned */
      "syscall\n\t"
      "hlt\n\t"
      "1:\n\t"
      : "+r"(rax)
      : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13)
      : "rcx", "r11", "memory");
  return rax;
}

/* Cleared once clone3 or CLONE_INTO_CGROUP turns out missing (before 5.7, or a seccomp filter's ENOSYS). */
static int clone_into_cgroup_works = 1;
#endif

/*
 * Starts `c` as glibc's posix_spawn does, with clone(CLONE_VM|CLONE_VFORK): the parent is
 * suspended until the child has exec'd or failed, and nothing of its memory is copied. Done
 * here rather than by posix_spawn so that the child starts in a cgroup (`cgroup_dir`, or -1):
 * born there with clone3's CLONE_INTO_CGROUP, which costs a fork what any fork costs, or, where
 * that is missing, moved there by its own write to cgroup.procs before its exec. A move waits
 * for an RCU grace period in the kernel (cgroup_threadgroup_rwsem), up to tens of ms at times.
 * The pid, or -1 with errno set: the clone's, or the failed step's in the child (the exec's
 * ENOENT, EACCES or ENOEXEC, a bad cwd's ENOENT), whose child is then reaped.
 */
static pid_t spawn_child(child_plan* c, int cgroup_dir) {
  const size_t stack_size = 64 * 1024;
  void* stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -1;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  c->error = 0;
  c->step = "posix_spawn";
  c->cgroup = -1;
  c->close_limit = close_limit();
  pid_t pid = -1;
  int clone_errno = 0;
  int done = 0;
#ifdef HAVE_CLONE3_TRAMPOLINE
  if (cgroup_dir >= 0 && clone_into_cgroup_works) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.stack = (uint64_t)(uintptr_t)stack;
    args.stack_size = stack_size;
    args.cgroup = (uint64_t)cgroup_dir;
    long rc = clone3_run(&args, child_main, c);
    if (rc >= 0) {
      pid = (pid_t)rc;
      done = 1;
      born_in_cgroup++;
    } else if (rc == -ENOSYS || rc == -EINVAL || rc == -E2BIG) {
      clone_into_cgroup_works = 0;
    } else {
      clone_errno = (int)-rc;
      /* What only the cgroup can cause: gone (ENODEV, ENOENT), one that may not hold processes
       * (EBUSY, EOPNOTSUPP), or not ours to put processes in (EACCES). */
      if (rc == -ENODEV || rc == -ENOENT || rc == -EBUSY || rc == -EOPNOTSUPP || rc == -EACCES) c->step = "cgroup";
      done = 1;
    }
  }
#endif
  if (!done && cgroup_dir >= 0) {
    c->cgroup = openat(cgroup_dir, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (c->cgroup < 0) {
      clone_errno = errno;
      c->step = "cgroup";
      done = 1;
    }
  }
  if (!done) {
    pid = clone(child_main, (char*)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
    clone_errno = errno;
    if (pid >= 0 && c->cgroup >= 0 && !c->error) joined_by_write++;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  munmap(stack, stack_size);
  if (c->cgroup >= 0) close(c->cgroup);
  if (pid < 0) {
    errno = clone_errno;
    return -1;
  }
  if (c->error) {
    int ignored;
    while (waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {}
    errno = c->error;
    return -1;
  }
  return pid;
}

/*
 * spawn(path, argv, envp, cwd, stdinPipe, statusPipe, cgroupDir) -> { pid, stdin, stdout, stderr }
 *
 * `path` is already resolved (no PATH search here: the caller searches the
 * child's PATH, as execvp in the child would). The child leads a new session
 * and process group, has every signal at its default disposition and none
 * blocked (Node ignores SIGPIPE; a child must not inherit that), and keeps no
 * fd of ours beyond 0, 1 and 2. stdin is /dev/null unless a pipe is asked for.
 * The returned fds are the parent's close-on-exec pipe ends (stdin is -1
 * without a pipe).
 *
 * With statusPipe, the child also gets fd 3: the write end of a pipe on which
 * a program that execs again (conch-exec-as --status-fd 3) reports why it
 * could not, as an int errno. spawn() waits for that pipe to close or to
 * carry an errno, and in the second case reaps the child and throws the
 * errno error, as for a failed exec of our own.
 *
 * With cgroupDir (a cgroup's directory, or null), the child starts in that
 * cgroup: it is there before it runs anything of the program's.
 */
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  napi_value args[7];
  size_t argc = 7;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 7)
    return throw_type(env, "spawn(path, argv, envp, cwd, stdinPipe, statusPipe, cgroupDir)");
  bool stdin_pipe, status_pipe;
  if (napi_get_value_bool(env, args[4], &stdin_pipe) != napi_ok) return throw_type(env, "stdinPipe must be a boolean");
  if (napi_get_value_bool(env, args[5], &status_pipe) != napi_ok) return throw_type(env, "statusPipe must be a boolean");
  napi_valuetype cgroup_type;
  if (napi_typeof(env, args[6], &cgroup_type) != napi_ok || (cgroup_type != napi_null && cgroup_type != napi_string))
    return throw_type(env, "cgroupDir must be a string or null");

  napi_value result = NULL;
  char* path = NULL;
  char* cwd = NULL;
  char* cgroup_path = NULL;
  char** argv = NULL;
  char** envp = NULL;
  int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, st[2] = { -1, -1 };
  int cgroup = -1;

  if (!(path = get_string(env, args[0], "path must be a string"))) goto done;
  if (!(argv = get_strings(env, args[1], "argv must be an array of strings"))) goto done;
  if (!argv[0]) {
    throw_type(env, "argv must not be empty");
    goto done;
  }
  if (!(envp = get_strings(env, args[2], "envp must be an array of strings"))) goto done;
  if (!(cwd = get_string(env, args[3], "cwd must be a string"))) goto done;
  if (cgroup_type == napi_string) {
    if (!(cgroup_path = get_string(env, args[6], "cgroupDir must be a string or null"))) goto done;
    if ((cgroup = open(cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
      throw_errno(env, errno, "cgroup");
      goto done;
    }
  }

  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || (stdin_pipe && pipe2(in, O_CLOEXEC) < 0) ||
      (status_pipe && pipe2(st, O_CLOEXEC) < 0)) {
    throw_errno(env, errno, "pipe2");
    goto done;
  }
  /* A daemon started with 0..2 closed gets pipes there; the child's dup2s must not clobber them. */
  if (above_stdio(&in[0]) < 0 || above_stdio(&out[1]) < 0 || above_stdio(&err[1]) < 0 || above_stdio(&st[1]) < 0) {
    throw_errno(env, errno, "fcntl");
    goto done;
  }

  child_plan plan = {
    .path = path, .argv = argv, .envp = envp, .cwd = cwd,
    .in = stdin_pipe ? in[0] : -1, .out = out[1], .err = err[1], .status = status_pipe ? st[1] : -1,
  };
  pid_t pid = spawn_child(&plan, cgroup);
  if (pid < 0) {
    /* "posix_spawn", kept from when glibc's did this; "cgroup" when the cgroup would not take it. */
    throw_errno(env, errno, plan.step);
    goto done;
  }

  if (status_pipe) {
    close(st[1]);
    st[1] = -1;
    int child_errno = 0;
    ssize_t n;
    do n = read(st[0], &child_errno, sizeof child_errno);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof child_errno) {
      /* It reported and is exiting: reap it here, since no watcher will. A negative errno is
       * conch-exec-as's for its cgroup join, not for the exec. */
      int ignored;
      while (waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {}
      throw_errno(env, child_errno < 0 ? -child_errno : child_errno, child_errno < 0 ? "cgroup" : "exec");
      goto done;
    }
  }

  /* The child holds its ends now; ours must not keep the pipes open past its exit. */
  close(out[1]);
  close(err[1]);
  out[1] = err[1] = -1;
  if (stdin_pipe) {
    close(in[0]);
    in[0] = -1;
  }
  /* Our ends stay blocking here: whoever takes them makes them non-blocking (openReader's
   * uv_poll_init, and net.Socket's uv_pipe_open for stdin), so setting it here was done twice. */

  napi_value v;
  napi_create_object(env, &result);
  napi_create_int32(env, pid, &v);
  napi_set_named_property(env, result, "pid", v);
  napi_create_int32(env, stdin_pipe ? in[1] : -1, &v);
  napi_set_named_property(env, result, "stdin", v);
  napi_create_int32(env, out[0], &v);
  napi_set_named_property(env, result, "stdout", v);
  napi_create_int32(env, err[0], &v);
  napi_set_named_property(env, result, "stderr", v);
  in[1] = out[0] = err[0] = -1; /* handed over */

done:
  close_pair(in);
  close_pair(out);
  close_pair(err);
  close_pair(st);
  if (cgroup >= 0) close(cgroup);
  free(path);
  free(cwd);
  free(cgroup_path);
  free_strings(argv);
  free_strings(envp);
  return result;
}

/* ---- watchers: an fd of ours polled by the event loop, reporting to JS -------- */

/*
 * The first member of each watcher below: a uv_poll on an fd it owns, and its JS callback.
 * `refs` counts what still points at it: the poll handle until it has closed, and for a reader
 * the JS external until it is collected, so that a call through a stale external finds a closed
 * watcher rather than freed memory.
 */
typedef struct fd_watch {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  /* What else JS handed over for as long as the watch lives (a reader's buffer), or NULL. */
  napi_ref held;
  napi_async_context async;
  int fd;
  int refs;
} fd_watch;

static void fd_watch_unref(fd_watch* w) {
  if (--w->refs == 0) free(w);
}

static void on_fd_watch_closed(uv_handle_t* handle) {
  fd_watch* w = handle->data;
  close(w->fd);
  napi_handle_scope scope;
  napi_open_handle_scope(w->env, &scope);
  napi_delete_reference(w->env, w->callback);
  if (w->held) napi_delete_reference(w->env, w->held);
  napi_async_destroy(w->env, w->async);
  napi_close_handle_scope(w->env, scope);
  fd_watch_unref(w);
}

/*
 * Sets up `w` (calloc'd at its full size) to poll `fd` for `callback`, and starts polling.
 * 0 on success; otherwise -1, it has thrown, and `fd` is (or will be) closed and `w` freed.
 */
static int fd_watch_start(napi_env env, fd_watch* w, int fd, napi_value callback, const char* name, uv_poll_cb on_ready) {
  uv_loop_t* loop;
  w->env = env;
  w->fd = fd;
  w->refs = 1;
  w->poll.data = w;
  int rc = napi_get_uv_event_loop(env, &loop) == napi_ok ? uv_poll_init(loop, &w->poll, fd) : UV_EINVAL;
  if (rc < 0) {
    close(fd);
    if (w->held) napi_delete_reference(env, w->held);
    free(w);
    throw_errno(env, -rc, "uv_poll_init");
    return -1;
  }
  napi_value resource_name;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  napi_create_reference(env, callback, 1, &w->callback);
  napi_async_init(env, NULL, resource_name, &w->async);
  rc = uv_poll_start(&w->poll, UV_READABLE, on_ready);
  if (rc < 0) {
    uv_close((uv_handle_t*)&w->poll, on_fd_watch_closed);
    throw_errno(env, -rc, "uv_poll_start");
    return -1;
  }
  return 0;
}

/* Calls the watcher's callback as an event-loop callback (microtasks run after it). */
static void fd_watch_call(fd_watch* w, size_t argc, napi_value* argv) {
  napi_value fn, recv, ignored;
  napi_get_reference_value(w->env, w->callback, &fn);
  napi_get_global(w->env, &recv);
  if (napi_make_callback(w->env, w->async, recv, fn, argc, argv, &ignored) != napi_ok) {
    napi_value exception;
    if (napi_get_and_clear_last_exception(w->env, &exception) == napi_ok) napi_fatal_exception(w->env, exception);
  }
}

/*
 * Reads the (int, callback) arguments of watchExit and openReader. false, having thrown, when
 * there are fewer, the int is below `min` (`int_rule` says what it must be) or the callback is
 * not a function.
 */
static bool int_and_callback(napi_env env, napi_callback_info info, const char* usage, int32_t min, const char* int_rule, int32_t* n, napi_value* fn) {
  napi_value args[2];
  size_t argc = 2;
  napi_valuetype type;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 2) {
    throw_type(env, usage);
    return false;
  }
  if (napi_get_value_int32(env, args[0], n) != napi_ok || *n < min) {
    throw_type(env, int_rule);
    return false;
  }
  if (napi_typeof(env, args[1], &type) != napi_ok || type != napi_function) {
    throw_type(env, "callback must be a function");
    return false;
  }
  *fn = args[1];
  return true;
}

/* ---- exit: a pidfd watched by the event loop -------------------------------- */

typedef struct exit_watch {
  fd_watch base; /* on the pidfd */
  pid_t pid;
} exit_watch;

static void on_exit_ready(uv_poll_t* handle, int status, int events) {
  exit_watch* w = handle->data;
  int wstatus = 0;
  pid_t r;
  do r = waitpid(w->pid, &wstatus, WNOHANG);
  while (r < 0 && errno == EINTR);
  /* A pidfd turns readable only once the process has exited; 0 would be a spurious wakeup. */
  if (r == 0) return;
  int wait_errno = r < 0 ? errno : 0;
  uv_close((uv_handle_t*)&w->base.poll, on_fd_watch_closed);

  napi_env env = w->base.env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[3];
  if (wait_errno) {
    argv[0] = errno_error(env, wait_errno, "waitpid");
    napi_get_null(env, &argv[1]);
    napi_get_null(env, &argv[2]);
  } else {
    napi_get_null(env, &argv[0]);
    if (WIFSIGNALED(wstatus)) {
      napi_get_null(env, &argv[1]);
      napi_create_int32(env, WTERMSIG(wstatus), &argv[2]);
    } else {
      napi_create_int32(env, WEXITSTATUS(wstatus), &argv[1]);
      napi_get_null(env, &argv[2]);
    }
  }
  fd_watch_call(&w->base, 3, argv);
  napi_close_handle_scope(env, scope);
}

/*
 * watchExit(pid, callback(err, exitCode, signalNumber)): reaps `pid` once it
 * exits and calls back once. It keeps the event loop alive meanwhile, as a
 * ChildProcess does.
 */
static napi_value js_watch_exit(napi_env env, napi_callback_info info) {
  int32_t pid;
  napi_value callback;
  if (!int_and_callback(env, info, "watchExit(pid, callback)", 1, "pid must be a positive number", &pid, &callback)) return NULL;

  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  /* pidfd_open sets close-on-exec itself (pidfd_open(2)). */
  if (pidfd < 0) return throw_errno(env, errno, "pidfd_open");
  exit_watch* w = calloc(1, sizeof *w);
  if (!w) {
    close(pidfd);
    return throw_errno(env, ENOMEM, "watchExit");
  }
  w->pid = pid;
  fd_watch_start(env, &w->base, pidfd, callback, "PosixSpawnExit", on_exit_ready);
  return NULL;
}

/* ---- output: a pipe's read end, read on the event loop ---------------------- */

/*
 * Reading a child's pipes through net.Socket costs more than the spawn around them: a
 * Duplex, a Pipe handle that probes the fd (fstat, ioctl), the Readable state machine and its
 * nextTicks at EOF, about 150 µs of CPU per command for two pipes (bench/README.md). This is
 * all a pipe's output needs: a uv_poll on the fd and one read per readiness, into a buffer
 * the caller lent, and a callback with the count.
 *
 * Not a new Buffer per read: each would be an ArrayBuffer outside the V8 heap, and V8 counts
 * those bytes towards starting a full collection. Streaming hundreds of MB/s that way, a daemon
 * whose heap holds thousands of exit records ran an incremental mark every 50-60 ms, about a
 * third of its throughput (bench/README.md, Streaming). The caller copies what it keeps into
 * memory it recycles.
 */

typedef struct pipe_reader {
  fd_watch base; /* on the pipe's read end; base.held is the buffer */
  char* buffer;
  size_t length;
  int polling;
  int closing;
} pipe_reader;

static void reader_close(pipe_reader* r) {
  if (r->closing) return;
  r->closing = 1;
  r->polling = 0;
  uv_close((uv_handle_t*)&r->base.poll, on_fd_watch_closed);
}

static void on_readable(uv_poll_t* handle, int status, int events) {
  pipe_reader* r = handle->data;
  if (r->closing) return;
  ssize_t n;
  int err = 0;
  if (status < 0) {
    n = -1;
    err = -status;
  } else {
    do n = read(r->base.fd, r->buffer, r->length);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      err = errno;
    }
  }
  /* EOF and errors end the reader: the fd closes once the handle has. */
  if (n <= 0) reader_close(r);

  napi_env env = r->base.env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[2];
  if (n < 0) argv[0] = errno_error(env, err, "read");
  else napi_get_null(env, &argv[0]);
  napi_create_int32(env, n < 0 ? 0 : (int32_t)n, &argv[1]);
  fd_watch_call(&r->base, 2, argv);
  napi_close_handle_scope(env, scope);
}

static void finalize_reader(napi_env env, void* data, void* hint) {
  fd_watch_unref(data);
}

static pipe_reader* reader_of(napi_env env, napi_callback_info info) {
  napi_value args[1];
  size_t argc = 1;
  void* data = NULL;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_external(env, args[0], &data) != napi_ok || !data) {
    throw_type(env, "expected a reader from openReader()");
    return NULL;
  }
  return data;
}

/*
 * openReader(fd, callback(err, n), buffer) -> reader. Takes ownership of `fd` (also when it
 * throws), which uv_poll_init makes non-blocking, and reads it into `buffer` (held until the
 * reader closes; readers may share one): callback(null, n) per read of n > 0 bytes, which are
 * buffer[0, n) until the next read of any reader sharing it, then callback(null, 0) at EOF or
 * callback(err, 0) on an error, after which the fd is closed. The reader is an external valid
 * until then or until closeReader(); it keeps the event loop alive while reading.
 */
static napi_value js_open_reader(napi_env env, napi_callback_info info) {
  int32_t fd;
  napi_value callback;
  if (!int_and_callback(env, info, "openReader(fd, callback, buffer)", 0, "fd must be a non-negative number", &fd, &callback)) return NULL;
  napi_value args[3];
  size_t argc = 3;
  void* data = NULL;
  size_t length = 0;
  bool is_buffer = false;
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 3 || napi_is_buffer(env, args[2], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, args[2], &data, &length) != napi_ok || length == 0) {
    close(fd);
    return throw_type(env, "buffer must be a non-empty Buffer");
  }
  pipe_reader* r = calloc(1, sizeof *r);
  if (!r) {
    close(fd);
    return throw_errno(env, ENOMEM, "openReader");
  }
  r->buffer = data;
  /* The count goes back to JS as an int32: a longer read would come out negative. */
  r->length = length > INT32_MAX ? INT32_MAX : length;
  if (napi_create_reference(env, args[2], 1, &r->base.held) != napi_ok) {
    close(fd);
    free(r);
    return throw_errno(env, ENOMEM, "openReader");
  }
  if (fd_watch_start(env, &r->base, fd, callback, "PosixSpawnPipe", on_readable) < 0) return NULL;
  r->polling = 1;
  napi_value external;
  r->base.refs++;
  if (napi_create_external(env, r, finalize_reader, NULL, &external) != napi_ok) {
    reader_close(r);
    fd_watch_unref(&r->base);
    return throw_errno(env, ENOMEM, "openReader");
  }
  return external;
}

/* pauseReader(reader): stops reading (the pipe fills and its writer blocks); no-op once closed. */
static napi_value js_pause_reader(napi_env env, napi_callback_info info) {
  pipe_reader* r = reader_of(env, info);
  if (r && !r->closing && r->polling) {
    uv_poll_stop(&r->base.poll);
    r->polling = 0;
  }
  return NULL;
}

/* resumeReader(reader): reads again; no-op once closed. */
static napi_value js_resume_reader(napi_env env, napi_callback_info info) {
  pipe_reader* r = reader_of(env, info);
  if (r && !r->closing && !r->polling) {
    int rc = uv_poll_start(&r->base.poll, UV_READABLE, on_readable);
    if (rc < 0) return throw_errno(env, -rc, "uv_poll_start");
    r->polling = 1;
  }
  return NULL;
}

/* closeReader(reader): stops reading and closes the fd, without a further callback; no-op once closed. */
static napi_value js_close_reader(napi_env env, napi_callback_info info) {
  pipe_reader* r = reader_of(env, info);
  if (r) reader_close(r);
  return NULL;
}

/* ---- process groups ----------------------------------------------------------- */

/*
 * groupExists(pgid) -> whether any process is left in the group: kill(-pgid, 0) succeeds, or
 * fails with EPERM (members we may not signal). process.kill answers "gone" by building an
 * exception, and at a command's exit the group is usually gone: groupAlive cost 26 µs per exec
 * that way, 15 µs of it the exception (bench/README.md). Only integers from 2 are taken: kill(-1)
 * means every process, and int32 conversion would turn 2.5 into 2 and 2^32 + 5 into 5.
 */
static napi_value js_group_exists(napi_env env, napi_callback_info info) {
  napi_value arg;
  size_t argc = 1;
  double value;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_double(env, arg, &value) != napi_ok || !(value >= 2 && value <= INT32_MAX) || value != (double)(int32_t)value) {
    return throw_type(env, "groupExists(pgid): pgid must be an integer from 2 to 2^31 - 1");
  }
  pid_t pgid = (pid_t)value;
  bool exists = kill(-pgid, 0) == 0 || errno == EPERM;
  napi_value out;
  napi_get_boolean(env, exists, &out);
  return out;
}

/*
 * probe() -> null when spawning and exit watching work here, else an Error
 * saying why (a kernel before 5.3 has no pidfd_open: ENOSYS).
 */
static napi_value js_probe(napi_env env, napi_callback_info info) {
  int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
  if (fd < 0) return errno_error(env, errno, "pidfd_open");
  close(fd);
  napi_value null;
  napi_get_null(env, &null);
  return null;
}

/*
 * statusPipe() -> [readFd, writeFd]: a pipe for conch-exec-as --status-fd writeFd, from a
 * spawner that cannot pass one itself (node-pty's forkpty, whose child keeps the fds that are
 * not close-on-exec). The write end is the inheritable one, above 3 so that no dup2 onto the
 * stdio fds can take its number; the caller closes it once the child has been forked.
 */
static napi_value js_status_pipe(napi_env env, napi_callback_info info) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return throw_errno(env, errno, "pipe2");
  if (above_stdio(&fds[0]) < 0 || above_stdio(&fds[1]) < 0 || fcntl(fds[1], F_SETFD, 0) < 0) {
    int err = errno;
    close_pair(fds);
    return throw_errno(env, err, "fcntl");
  }
  napi_value out, v;
  napi_create_array_with_length(env, 2, &out);
  for (uint32_t i = 0; i < 2; i++) {
    napi_create_int32(env, fds[i], &v);
    napi_set_element(env, out, i, v);
  }
  return out;
}

/*
 * joinByWrite() -> undefined: from now on children join their cgroup by the write in
 * child_main, as they do on kernels before 5.7 and on architectures without the trampoline:
 * for tests of that path on a machine that would not take it.
 */
static napi_value js_join_by_write(napi_env env, napi_callback_info info) {
#ifdef HAVE_CLONE3_TRAMPOLINE
  clone_into_cgroup_works = 0;
#endif
  return NULL;
}

/* cgroupSpawns() -> { bornIn, joinedByWrite }: how many children started into a cgroup each way. */
static napi_value js_cgroup_spawns(napi_env env, napi_callback_info info) {
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_double(env, born_in_cgroup, &v);
  napi_set_named_property(env, out, "bornIn", v);
  napi_create_double(env, joined_by_write, &v);
  napi_set_named_property(env, out, "joinedByWrite", v);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "spawn", NULL, js_spawn, NULL, NULL, NULL, napi_enumerable, NULL },
    { "watchExit", NULL, js_watch_exit, NULL, NULL, NULL, napi_enumerable, NULL },
    { "probe", NULL, js_probe, NULL, NULL, NULL, napi_enumerable, NULL },
    { "openReader", NULL, js_open_reader, NULL, NULL, NULL, napi_enumerable, NULL },
    { "pauseReader", NULL, js_pause_reader, NULL, NULL, NULL, napi_enumerable, NULL },
    { "resumeReader", NULL, js_resume_reader, NULL, NULL, NULL, napi_enumerable, NULL },
    { "closeReader", NULL, js_close_reader, NULL, NULL, NULL, napi_enumerable, NULL },
    { "groupExists", NULL, js_group_exists, NULL, NULL, NULL, napi_enumerable, NULL },
    { "joinByWrite", NULL, js_join_by_write, NULL, NULL, NULL, napi_enumerable, NULL },
    { "statusPipe", NULL, js_status_pipe, NULL, NULL, NULL, napi_enumerable, NULL },
    { "cgroupSpawns", NULL, js_cgroup_spawns, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
