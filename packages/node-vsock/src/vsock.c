/*
 * AF_VSOCK for Node: the syscalls libuv will not make for us.
 *
 * libuv cannot create, bind or connect AF_VSOCK sockets, and it classifies
 * their fds as UNKNOWN, so net.Socket refuses them. This addon does the
 * parts that need the address family (socket, bind, listen, accept,
 * connect, getsockname, getpeername, the local CID ioctl) and hands each
 * connected fd to JavaScript, which wraps it in a stream handle (see
 * pipe-handle.ts). The loop never blocks: sockets are non-blocking, and the
 * listening fd and connecting fds are watched with uv_poll_t.
 *
 * Errors are JS Error objects carrying `code` (the errno name), `errno`
 * and `syscall`; errors.ts turns them into VsockError and friends.
 */
/* accept4 is a GNU extension. */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__)
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/vm_sockets.h>
#endif

#define CHECK_NAPI(env, call)                                         \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error((env), "ERR_VSOCK_NAPI", "N-API call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

/* ---- errors ----------------------------------------------------------- */

static napi_value errno_error(napi_env env, int err, const char* syscall) {
  const char* code = uv_err_name(-err);
  char message[160];
  snprintf(message, sizeof message, "%s %s (%s)", syscall, code, strerror(err));

  napi_value msg, error, v;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "code", v);
  napi_create_int32(env, err, &v);
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

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < want) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "vsock native: too few arguments");
    return 0;
  }
  return 1;
}

static int get_u32(napi_env env, napi_value value, uint32_t* out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) return 0;
  return napi_get_value_uint32(env, value, out) == napi_ok;
}

static int get_i32(napi_env env, napi_value value, int32_t* out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) return 0;
  return napi_get_value_int32(env, value, out) == napi_ok;
}

static napi_value make_address(napi_env env, uint32_t cid, uint32_t port) {
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_create_uint32(env, cid, &v);
  napi_set_named_property(env, obj, "cid", v);
  napi_create_uint32(env, port, &v);
  napi_set_named_property(env, obj, "port", v);
  return obj;
}

#if defined(__linux__)

/* ---- plain syscalls ----------------------------------------------------- */

static void fill_addr(struct sockaddr_vm* sa, uint32_t cid, uint32_t port) {
  memset(sa, 0, sizeof *sa);
  sa->svm_family = AF_VSOCK;
  sa->svm_cid = cid;
  sa->svm_port = port;
}

/* listen(cid, port, backlog) -> { fd, cid, port } with the bound address. */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t cid, port;
  int32_t backlog;
  if (!get_args(env, info, 3, argv)) return NULL;
  if (!get_u32(env, argv[0], &cid) || !get_u32(env, argv[1], &port) || !get_i32(env, argv[2], &backlog))
    return throw_type(env, "listen(cid, port, backlog) takes numbers");

  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");

  struct sockaddr_vm sa;
  fill_addr(&sa, cid, port);
  const char* failed = NULL;
  if (bind(fd, (struct sockaddr*)&sa, sizeof sa) < 0) failed = "bind";
  else if (listen(fd, backlog) < 0) failed = "listen";
  else {
    socklen_t len = sizeof sa;
    if (getsockname(fd, (struct sockaddr*)&sa, &len) < 0) failed = "getsockname";
  }
  if (failed) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, failed);
  }

  napi_value result = make_address(env, sa.svm_cid, sa.svm_port), v;
  napi_create_int32(env, fd, &v);
  napi_set_named_property(env, result, "fd", v);
  return result;
}

/*
 * connect(cid, port, timeoutMs) -> fd, with the connection in progress.
 * Completion is observed with watchConnect(). timeoutMs > 0 also raises the
 * kernel's own connect timeout, which otherwise fails the attempt after 2 s
 * whatever the caller asked for.
 */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t cid, port, timeout_ms;
  if (!get_args(env, info, 3, argv)) return NULL;
  if (!get_u32(env, argv[0], &cid) || !get_u32(env, argv[1], &port) || !get_u32(env, argv[2], &timeout_ms))
    return throw_type(env, "connect(cid, port, timeoutMs) takes numbers");

  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");

  if (timeout_ms > 0) {
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    if (setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof tv) < 0) {
      int err = errno;
      close(fd);
      return throw_errno(env, err, "setsockopt");
    }
  }

  struct sockaddr_vm sa;
  fill_addr(&sa, cid, port);
  int rc;
  do rc = connect(fd, (struct sockaddr*)&sa, sizeof sa);
  while (rc < 0 && errno == EINTR);
  if (rc < 0 && errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "connect");
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

static napi_value name_of(napi_env env, napi_callback_info info, int peer) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_i32(env, argv[0], &fd)) return throw_type(env, "fd must be a number");
  struct sockaddr_vm sa;
  socklen_t len = sizeof sa;
  memset(&sa, 0, sizeof sa);
  int rc = peer ? getpeername(fd, (struct sockaddr*)&sa, &len) : getsockname(fd, (struct sockaddr*)&sa, &len);
  if (rc < 0) return throw_errno(env, errno, peer ? "getpeername" : "getsockname");
  if (sa.svm_family != AF_VSOCK) return throw_errno(env, EAFNOSUPPORT, peer ? "getpeername" : "getsockname");
  return make_address(env, sa.svm_cid, sa.svm_port);
}

static napi_value js_sockname(napi_env env, napi_callback_info info) { return name_of(env, info, 0); }
static napi_value js_peername(napi_env env, napi_callback_info info) { return name_of(env, info, 1); }

/* localCid() -> this machine's CID, from the vsock misc device. */
static napi_value js_local_cid(napi_env env, napi_callback_info info) {
  int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open /dev/vsock");
  uint32_t cid = VMADDR_CID_ANY;
  int rc = ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid);
  int err = errno;
  close(fd);
  if (rc < 0) return throw_errno(env, err, "ioctl IOCTL_VM_SOCKETS_GET_LOCAL_CID");
  napi_value result;
  napi_create_uint32(env, cid, &result);
  return result;
}

/*
 * socketpair() -> [fd, fd], AF_UNIX. Not vsock: it lets host tests exercise
 * the fd-to-net.Socket wrapping without opening the host's vsock.
 */
static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
    return throw_errno(env, errno, "socketpair");
  napi_value result, v;
  napi_create_array_with_length(env, 2, &result);
  for (uint32_t i = 0; i < 2; i++) {
    napi_create_int32(env, fds[i], &v);
    napi_set_element(env, result, i, v);
  }
  return result;
}

#else /* !__linux__ */

/* Elsewhere there is no AF_VSOCK we support: every entry point reports that. */
static napi_value unsupported(napi_env env, const char* syscall) { return throw_errno(env, EAFNOSUPPORT, syscall); }
static napi_value js_listen(napi_env env, napi_callback_info info) { return unsupported(env, "socket"); }
static napi_value js_connect(napi_env env, napi_callback_info info) { return unsupported(env, "socket"); }
static napi_value js_sockname(napi_env env, napi_callback_info info) { return unsupported(env, "getsockname"); }
static napi_value js_peername(napi_env env, napi_callback_info info) { return unsupported(env, "getpeername"); }
static napi_value js_local_cid(napi_env env, napi_callback_info info) { return unsupported(env, "open /dev/vsock"); }
static napi_value js_socketpair(napi_env env, napi_callback_info info) { return unsupported(env, "socketpair"); }

#endif

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_i32(env, argv[0], &fd)) return throw_type(env, "fd must be a number");
  /* Linux frees the fd even when close() reports EINTR, so never retry. */
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close");
  return NULL;
}

/* ---- watchers: uv_poll_t on a listening or connecting fd ---------------- */

enum watch_kind { WATCH_ACCEPT, WATCH_CONNECT };

/*
 * Owned jointly by libuv (until the poll handle's close callback) and by the
 * JS external that names it (until it is garbage collected). Freed when both
 * have let go, so a stale external can never reach freed memory.
 */
typedef struct watcher {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  int fd;
  enum watch_kind kind;
  int polling;   /* uv_poll_start is in effect */
  int closing;   /* uv_close has been called */
  int closed;    /* libuv is done with the handle */
  int finalized; /* the JS external is gone */
} watcher;

static void watcher_release(watcher* w) {
  if (w->closed && w->finalized) free(w);
}

static void on_watcher_closed(uv_handle_t* handle) {
  watcher* w = handle->data;
  napi_handle_scope scope;
  napi_open_handle_scope(w->env, &scope);
  napi_delete_reference(w->env, w->callback);
  napi_async_destroy(w->env, w->async);
  napi_close_handle_scope(w->env, scope);
  w->closed = 1;
  watcher_release(w);
}

static void watcher_close(watcher* w) {
  if (w->closing) return;
  w->closing = 1;
  w->polling = 0;
  /* uv_close stops the poll at once, so the fd may be closed right after. */
  uv_close((uv_handle_t*)&w->poll, on_watcher_closed);
}

static void on_external_finalized(napi_env env, void* data, void* hint) {
  watcher* w = data;
  w->finalized = 1;
  watcher_release(w);
}

/* Calls the watcher's JS callback with argv; an exception becomes uncaught. */
static void watcher_call(watcher* w, size_t argc, napi_value* argv) {
  napi_env env = w->env;
  napi_value fn, recv, ignored;
  napi_get_reference_value(env, w->callback, &fn);
  /* napi_make_callback converts the receiver to an object, so undefined would throw
   * "Cannot convert undefined or null to object" before the callback ever ran. */
  napi_get_global(env, &recv);
  if (napi_make_callback(env, w->async, recv, fn, argc, argv, &ignored) != napi_ok) {
    napi_value exception;
    if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
  }
}

#if defined(__linux__)

static int is_resource_exhaustion(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void on_accept_ready(uv_poll_t* handle, int status, int events) {
  watcher* w = handle->data;
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);

  if (status < 0) {
    /* libuv has already stopped the poll (POLLERR on the listening fd). */
    w->polling = 0;
    napi_value argv[1] = { errno_error(env, -status, "accept") };
    watcher_call(w, 1, argv);
    napi_close_handle_scope(env, scope);
    return;
  }

  /* Drain the backlog: the poll is level-triggered, but one wakeup per
   * connection would cost a loop iteration each. */
  while (!w->closing && w->polling) {
    struct sockaddr_vm sa;
    socklen_t len = sizeof sa;
    memset(&sa, 0, sizeof sa);
    int fd = accept4(w->fd, (struct sockaddr*)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      /* Out of fds or memory: the backlog stays readable, so polling on
       * would spin. Stop; the JS side resumes after a pause. */
      if (is_resource_exhaustion(err)) {
        uv_poll_stop(&w->poll);
        w->polling = 0;
      }
      napi_value argv[1] = { errno_error(env, err, "accept") };
      watcher_call(w, 1, argv);
      break;
    }
    napi_value argv[4];
    napi_get_null(env, &argv[0]);
    napi_create_int32(env, fd, &argv[1]);
    napi_create_uint32(env, sa.svm_cid, &argv[2]);
    napi_create_uint32(env, sa.svm_port, &argv[3]);
    watcher_call(w, 4, argv);
  }
  napi_close_handle_scope(env, scope);
}

static void on_connect_ready(uv_poll_t* handle, int status, int events) {
  watcher* w = handle->data;
  int err = 0;
  socklen_t errlen = sizeof err;
  if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0) err = errno;

  struct sockaddr_vm sa;
  memset(&sa, 0, sizeof sa);
  if (err == 0) {
    socklen_t len = sizeof sa;
    if (getpeername(w->fd, (struct sockaddr*)&sa, &len) < 0) {
      err = errno;
      /* Woken while still connecting: keep waiting. */
      if (err == ENOTCONN && status >= 0) return;
    }
  }
  if (err == 0 && status < 0) err = -status;
  /*
   * The virtio and loopback vsock transports answer a connection to a port
   * nobody listens on with a reset, which the kernel reports as ECONNRESET
   * while the socket is still connecting. Callers reason in TCP terms, where
   * that is a refusal, so report it as one. Bound: only during connect.
   */
  if (err == ECONNRESET) err = ECONNREFUSED;

  watcher_close(w);

  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[3];
  if (err) {
    argv[0] = errno_error(env, err, "connect");
    watcher_call(w, 1, argv);
  } else {
    napi_get_null(env, &argv[0]);
    napi_create_uint32(env, sa.svm_cid, &argv[1]);
    napi_create_uint32(env, sa.svm_port, &argv[2]);
    watcher_call(w, 3, argv);
  }
  napi_close_handle_scope(env, scope);
}

#endif

static int watcher_start(watcher* w) {
#if defined(__linux__)
  int events = w->kind == WATCH_ACCEPT ? UV_READABLE : UV_WRITABLE;
  int rc = uv_poll_start(&w->poll, events, w->kind == WATCH_ACCEPT ? on_accept_ready : on_connect_ready);
  if (rc == 0) w->polling = 1;
  return rc;
#else
  return UV_EAFNOSUPPORT;
#endif
}

static napi_value watch(napi_env env, napi_callback_info info, enum watch_kind kind) {
  napi_value argv[2];
  int32_t fd;
  napi_valuetype type;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_i32(env, argv[0], &fd)) return throw_type(env, "fd must be a number");
  if (napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function)
    return throw_type(env, "callback must be a function");

  uv_loop_t* loop;
  CHECK_NAPI(env, napi_get_uv_event_loop(env, &loop));

  watcher* w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, ENOMEM, "watch");
  w->env = env;
  w->fd = fd;
  w->kind = kind;
  w->poll.data = w;

  int rc = uv_poll_init(loop, &w->poll, fd);
  if (rc < 0) {
    free(w);
    return throw_errno(env, -rc, "uv_poll_init");
  }
  napi_value name;
  napi_create_string_utf8(env, kind == WATCH_ACCEPT ? "VsockAccept" : "VsockConnect", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, argv[1], 1, &w->callback);
  napi_async_init(env, NULL, name, &w->async);

  napi_value external;
  if (napi_create_external(env, w, on_external_finalized, NULL, &external) != napi_ok) {
    w->finalized = 1;
    watcher_close(w);
    napi_throw_error(env, "ERR_VSOCK_NAPI", "napi_create_external failed");
    return NULL;
  }
  rc = watcher_start(w);
  if (rc < 0) {
    watcher_close(w);
    return throw_errno(env, -rc, "uv_poll_start");
  }
  return external;
}

/* watchAccept(fd, cb(err, fd?, peerCid?, peerPort?)) -> watcher */
static napi_value js_watch_accept(napi_env env, napi_callback_info info) { return watch(env, info, WATCH_ACCEPT); }
/* watchConnect(fd, cb(err, peerCid?, peerPort?)) -> watcher; fires once */
static napi_value js_watch_connect(napi_env env, napi_callback_info info) { return watch(env, info, WATCH_CONNECT); }

static watcher* get_watcher(napi_env env, napi_value value) {
  void* data = NULL;
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external ||
      napi_get_value_external(env, value, &data) != napi_ok) {
    throw_type(env, "not a vsock watcher");
    return NULL;
  }
  return data;
}

/* unwatch(watcher): stop watching; the fd stays open. Idempotent. */
static napi_value js_unwatch(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  watcher* w = get_watcher(env, argv[0]);
  if (w) watcher_close(w);
  return NULL;
}

/* setWatching(watcher, on): pause or resume an accept watcher. */
static napi_value js_set_watching(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bool on;
  if (!get_args(env, info, 2, argv)) return NULL;
  watcher* w = get_watcher(env, argv[0]);
  if (!w) return NULL;
  if (napi_get_value_bool(env, argv[1], &on) != napi_ok) return throw_type(env, "on must be a boolean");
  if (w->closing || on == (bool)w->polling) return NULL;
  if (on) {
    int rc = watcher_start(w);
    if (rc < 0) return throw_errno(env, -rc, "uv_poll_start");
  } else {
    uv_poll_stop(&w->poll);
    w->polling = 0;
  }
  return NULL;
}

/* setRef(watcher, ref): whether the watcher keeps the event loop alive. */
static napi_value js_set_ref(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bool ref;
  if (!get_args(env, info, 2, argv)) return NULL;
  watcher* w = get_watcher(env, argv[0]);
  if (!w) return NULL;
  if (napi_get_value_bool(env, argv[1], &ref) != napi_ok) return throw_type(env, "ref must be a boolean");
  if (w->closing) return NULL;
  if (ref) uv_ref((uv_handle_t*)&w->poll);
  else uv_unref((uv_handle_t*)&w->poll);
  return NULL;
}

/* errnoError(errno, syscall): the error shape this addon throws, for tests of the mapping. */
static napi_value js_errno_error(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t err;
  char syscall[64];
  size_t len;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_i32(env, argv[0], &err)) return throw_type(env, "errno must be a number");
  if (napi_get_value_string_utf8(env, argv[1], syscall, sizeof syscall, &len) != napi_ok)
    return throw_type(env, "syscall must be a string");
  return errno_error(env, err, syscall);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "listen", NULL, js_listen, NULL, NULL, NULL, napi_enumerable, NULL },
    { "connect", NULL, js_connect, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sockName", NULL, js_sockname, NULL, NULL, NULL, napi_enumerable, NULL },
    { "peerName", NULL, js_peername, NULL, NULL, NULL, napi_enumerable, NULL },
    { "localCid", NULL, js_local_cid, NULL, NULL, NULL, napi_enumerable, NULL },
    { "socketpair", NULL, js_socketpair, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
    { "watchAccept", NULL, js_watch_accept, NULL, NULL, NULL, napi_enumerable, NULL },
    { "watchConnect", NULL, js_watch_connect, NULL, NULL, NULL, napi_enumerable, NULL },
    { "unwatch", NULL, js_unwatch, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setWatching", NULL, js_set_watching, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setRef", NULL, js_set_ref, NULL, NULL, NULL, napi_enumerable, NULL },
    { "errnoError", NULL, js_errno_error, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  CHECK_NAPI(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
