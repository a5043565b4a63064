#!/usr/bin/env bash
# The SSH test host: a Debian 12 root filesystem (debootstrap --variant=minbase bookworm) with
# sshd in a chroot, listening on 127.0.0.2:2222, reached with a throwaway key.
#
#   bash tests/host/build.sh deps     apt packages this machine needs (debootstrap, ssh client)
#   bash tests/host/build.sh start    build (cached) a fresh live copy and start sshd in it
#   bash tests/host/build.sh stop     stop exactly the processes running inside the live copy
#
# Nothing is mounted into the chroot, and "stop" kills only processes whose root directory is
# the live copy (read from /proc/PID/root): never by name, never anything of this machine's own.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${NYXOPS_HOST_CACHE:-$HERE/cache}"
PRISTINE="$CACHE/pristine"
LIVE="$CACHE/live"
ADDRESS="${NYXOPS_TEST_HOST_ADDRESS:-127.0.0.2}"
PORT="${NYXOPS_TEST_HOST_PORT:-2222}"

mirror() {
    # The machine's own Debian mirror (deb822 or one-line sources), so CI uses what it can reach.
    local uri
    uri="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v security | head -n1 | awk '{print $2}')" || true
    if [ -z "$uri" ]; then
        uri="$(grep -hs '^deb ' /etc/apt/sources.list | grep -v security | head -n1 | awk '{print $2}')" || true
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

deps() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v ssh-keygen >/dev/null || missing+=(openssh-client)
    if [ "${#missing[@]}" -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

pristine() {
    [ -f "$PRISTINE/.complete" ] && return 0
    rm -rf "$PRISTINE"
    mkdir -p "$CACHE"
    debootstrap --variant=minbase --include=openssh-server,ca-certificates bookworm "$PRISTINE" "$(mirror)" \
        >"$CACHE/debootstrap.log" 2>&1 || { tail -n 30 "$CACHE/debootstrap.log" >&2; exit 1; }
    # A chroot runs no init system: package scripts must not try to start services.
    printf '#!/bin/sh\nexit 101\n' >"$PRISTINE/usr/sbin/policy-rc.d"
    chmod 755 "$PRISTINE/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$PRISTINE/etc/resolv.conf" 2>/dev/null || true
    # Reach the mirror the way this machine does (an apt proxy, if it has one).
    for conf in /etc/apt/apt.conf.d/*proxy* /etc/apt/apt.conf.d/*Proxy*; do
        [ -f "$conf" ] && cp "$conf" "$PRISTINE/etc/apt/apt.conf.d/" || true
    done
    chroot "$PRISTINE" ssh-keygen -A >/dev/null
    touch "$PRISTINE/.complete"
}

stop() {
    [ -d "$LIVE" ] || return 0
    local live pid root
    live="$(cd "$LIVE" && pwd -P)"
    for _ in 1 2 3; do
        local found=0
        for dir in /proc/[0-9]*; do
            pid="${dir#/proc/}"
            root="$(readlink "$dir/root" 2>/dev/null)" || continue
            if [ "$root" = "$live" ]; then
                kill -KILL "$pid" 2>/dev/null || true
                found=1
            fi
        done
        [ "$found" = 0 ] && return 0
        sleep 0.3
    done
}

start() {
    deps
    pristine
    stop
    rm -rf "$LIVE"
    cp -a "$PRISTINE" "$LIVE"
    mkdir -p "$LIVE/run/sshd" "$LIVE/root/.ssh" "$CACHE/keys"
    if [ ! -f "$CACHE/keys/id_ed25519" ]; then
        ssh-keygen -q -t ed25519 -N '' -C nyxops-test -f "$CACHE/keys/id_ed25519"
    fi
    cp "$CACHE/keys/id_ed25519.pub" "$LIVE/root/.ssh/authorized_keys"
    chmod 700 "$LIVE/root/.ssh"
    chmod 600 "$LIVE/root/.ssh/authorized_keys"
    cat >"$LIVE/etc/ssh/sshd_config.d/nyxops-test.conf" <<CONF
ListenAddress $ADDRESS:$PORT
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding yes
PidFile /run/sshd.pid
CONF
    # Keep the apt archives between sessions: the host stage downloads its packages once.
    mkdir -p "$CACHE/apt-archives/partial"
    cp -a "$CACHE/apt-archives/." "$LIVE/var/cache/apt/archives/" 2>/dev/null || true
    # The host key, as a known_hosts line for the address: host key checking stays on.
    echo "[$ADDRESS]:$PORT $(cut -d' ' -f1,2 "$LIVE/etc/ssh/ssh_host_ed25519_key.pub")" >"$CACHE/keys/known_hosts"
    chroot "$LIVE" /usr/sbin/sshd -E /var/log/sshd.log </dev/null >/dev/null 2>&1
    for _ in $(seq 50); do
        if (exec 3<>"/dev/tcp/$ADDRESS/$PORT") 2>/dev/null; then
            echo "$LIVE"
            return 0
        fi
        sleep 0.1
    done
    echo "sshd in $LIVE did not start; see $LIVE/var/log/sshd.log" >&2
    exit 1
}

save_archives() {
    [ -d "$LIVE/var/cache/apt/archives" ] && cp -a "$LIVE/var/cache/apt/archives/." "$CACHE/apt-archives/" 2>/dev/null || true
}

case "${1:-}" in
    deps) deps ;;
    start) start ;;
    stop) save_archives; stop ;;
    *) echo "usage: $0 deps|start|stop" >&2; exit 2 ;;
esac
