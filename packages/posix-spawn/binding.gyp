{
  "targets": [
    {
      "target_name": "posix_spawn",
      "sources": ["src/posix-spawn.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "conch-exec-as",
      "type": "executable",
      "sources": ["src/exec-as.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra"]
    }
  ]
}
