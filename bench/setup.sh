#!/usr/bin/env bash
# What `npm run bench` needs beyond `npm ci`: OpenSSH (sshd, ssh, ssh-keygen) for the ssh peer
# rows. A machine that cannot install it still runs the bench; those rows then say why they are N/A.
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
if [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null; then exit 0; fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
if ! command -v apt-get >/dev/null; then
  echo "bench: no apt-get here; the OpenSSH rows will be N/A" >&2
  exit 0
fi
echo "bench: installing openssh-server and openssh-client for the ssh peer rows" >&2
{ $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends openssh-server openssh-client; } </dev/null >&2 \
  || echo "bench: could not install OpenSSH; the OpenSSH rows will be N/A" >&2
# Debian's package starts sshd on port 22 where an init runs it; the bench uses its own private
# sshd on a free loopback port and does not need that one.
exit 0
