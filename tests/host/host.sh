#!/usr/bin/env bash
# The test host: a Hetzner-like Debian 12 VM on this machine, for the real deploy.
#
#   bash tests/host/host.sh deps      apt packages this machine needs (debootstrap, ssh client, iproute2, git)
#   bash tests/host/host.sh rootfs    build (cached) the host's root filesystem and the image tarballs: the only
#                                     step that reaches a mirror, run before the tests (scripts/dev.sh test)
#   bash tests/host/host.sh up        a fresh copy of the host, "booted" in its own namespaces, sshd on $ADDR_HOST:22
#   bash tests/host/host.sh images    the stack's images, built inside the host's own dockerd (after the host stage)
#   bash tests/host/host.sh repo      the app's git repository on the host (branch production)
#   bash tests/host/host.sh commit    a new commit on production (a routine release); prints its hash
#   bash tests/host/host.sh remove F  a new commit on production without file F; prints its hash
#   bash tests/host/host.sh down      stop it: dockerd, then the host's PID 1 by PID, mounts, namespace
#
# Why it is built this way (each point was learnt on this kind of machine):
# - Its own network namespace ($NS), joined to this machine by one veth pair ($ADDR_ROOT <-> $ADDR_HOST)
#   and no default route: nothing in the host, or in its containers, reaches any other address.
# - Its own mount and PID namespaces, and pivot_root (not chroot) into the copy: dockerd and runc need the
#   namespace's root to BE the host's root, or `docker exec` (and every healthcheck) lands in this
#   machine's filesystem. The root must be a mount point for pivot_root, hence the bind mount onto itself.
# - Its own /sys (sysfs of its network namespace) and the cgroup v1 hierarchies, so Docker's limits are
#   real cgroup limits, read back from the container's cgroup by the tests.
# - No systemd as PID 1: invoke-rc.d asks policy-rc.d before any init script. Ours starts dockerd when
#   docker.io's postinst asks (as docker.service does on a VM) and denies everything else. Debian's init
#   script cannot be used: its `ulimit -n 1048576` is refused here (hard nofile limit below it).
# - The host stage installs docker.io for real: its packages are downloaded ahead into the root's apt
#   cache (the namespace has no route to the mirror), and apt's lists are marked fresh.
# - No registry: images are `docker import`s of debootstrap root filesystems, then `docker build` on them,
#   under the exact names the compose file uses (Caddy from Debian's own package, as caddy:2).
#   PostgreSQL 16 + pgvector come from the pgserver wheel.
# - Teardown kills the host's PID 1 by its PID (the kernel then ends everything in its PID namespace,
#   containers included) and unmounts only what lies below the live copy: never anything by name.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${NYXOPS_HOST_CACHE:-$HERE/cache}"
NS="${NYXOPS_HOST_NS:-nyxops-host}"
VETH_ROOT="nyxh0"
VETH_HOST="nyxh1"
ADDR_ROOT="10.231.77.1"
ADDR_HOST="10.231.77.2"
LIVE="$CACHE/live"
KEYS="$CACHE/keys"
PYTHON="${NYXOPS_HOST_PYTHON:-python3}"
APT="env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0"
# What deploys/host.py installs, in its two steps (apt resolves each step on what the one before installed).
BASE_PACKAGES=(ca-certificates curl gnupg git nftables unattended-upgrades sudo)
DOCKER_PACKAGES=(docker.io docker-compose)

log() { echo "host.sh: $*" >&2; }

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
    command -v ip >/dev/null || missing+=(iproute2)
    command -v git >/dev/null || missing+=(git)
    command -v nsenter >/dev/null || missing+=(util-linux)
    if [ "${#missing[@]}" -gt 0 ]; then
        $APT update -qq >/dev/null
        $APT install -qq "${missing[@]}" >/dev/null
    fi
}

base() {
    [ -f "$CACHE/base/.complete" ] && return 0
    rm -rf "$CACHE/base"; mkdir -p "$CACHE"
    local t0=$SECONDS
    debootstrap --variant=minbase --include=ca-certificates bookworm "$CACHE/base" "$(mirror)" \
        >"$CACHE/debootstrap.log" 2>&1 || { tail -n 30 "$CACHE/debootstrap.log" >&2; exit 1; }
    printf '#!/bin/sh\nexit 101\n' >"$CACHE/base/usr/sbin/policy-rc.d"
    chmod 755 "$CACHE/base/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$CACHE/base/etc/resolv.conf" 2>/dev/null || true
    # Reach the mirror the way this machine does (its apt proxy and validity settings, if any).
    for conf in /etc/apt/apt.conf.d/*proxy* /etc/apt/apt.conf.d/*Proxy* /etc/apt/apt.conf.d/99*; do
        if [ -f "$conf" ]; then cp "$conf" "$CACHE/base/etc/apt/apt.conf.d/"; fi
    done
    chroot "$CACHE/base" $APT update >/dev/null
    touch "$CACHE/base/.complete"
    log "base rootfs: $((SECONDS - t0)) s"
}

pristine() {
    [ -f "$CACHE/pristine/.complete" ] && return 0
    local t0=$SECONDS R="$CACHE/pristine"
    rm -rf "$R"; cp -a "$CACHE/base" "$R"; rm -f "$R/.complete"
    # A Hetzner Debian 12 image: sshd and systemd (installed, not PID 1 here), procps, iproute2.
    chroot "$R" $APT install --no-install-recommends openssh-server systemd procps iproute2 >"$CACHE/pristine-apt.log" 2>&1 \
        || { tail -n 30 "$CACHE/pristine-apt.log" >&2; exit 1; }
    chroot "$R" ssh-keygen -A >/dev/null
    # What the host stage installs, downloaded only: it installs them for real, offline. Downloaded for each
    # step alone and for both together, so whichever way apt resolves them on the host, the debs are there.
    local set
    for set in "${BASE_PACKAGES[*]}" "${DOCKER_PACKAGES[*]}" "${BASE_PACKAGES[*]} ${DOCKER_PACKAGES[*]}"; do
        # shellcheck disable=SC2086
        chroot "$R" $APT install --download-only --no-install-recommends $set >>"$CACHE/pristine-apt.log" 2>&1 \
            || { tail -n 30 "$CACHE/pristine-apt.log" >&2; exit 1; }
    done
    touch "$R/.complete"
    log "host rootfs: $((SECONDS - t0)) s, $(ls "$R/var/cache/apt/archives/"*.deb | wc -l) packages ready for the host stage"
}

image_tar() {  # image_tar NAME PACKAGES...: a root filesystem tarball for `docker import`
    local name="$1"; shift
    local R="$CACHE/img-$name"
    [ -f "$CACHE/img-$name.tar" ] && return 0
    rm -rf "$R"; cp -a "$CACHE/base" "$R"; rm -f "$R/.complete"
    if [ "$#" -gt 0 ]; then
        chroot "$R" $APT install --no-install-recommends "$@" >"$CACHE/img-$name-apt.log" 2>&1 \
            || { tail -n 30 "$CACHE/img-$name-apt.log" >&2; exit 1; }
    fi
    chroot "$R" apt-get clean
    rm -rf "$R/var/lib/apt/lists/"* "$R/usr/sbin/policy-rc.d" "$R/etc/resolv.conf"
    tar -C "$R" --numeric-owner -cf "$CACHE/img-$name.tar.partial" .
    mv "$CACHE/img-$name.tar.partial" "$CACHE/img-$name.tar"
    rm -rf "$R"
}

rootfs() {
    deps
    base
    # The host and the three image roots are independent: build them side by side.
    local pids=() failed=0
    pristine & pids+=($!)
    image_tar base & pids+=($!)
    image_tar python python3 & pids+=($!)
    image_tar node nodejs & pids+=($!)
    image_tar caddy caddy & pids+=($!)
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    [ "$failed" = 0 ] || { log "building a root filesystem failed (logs in $CACHE)"; exit 1; }
}

built() {  # whether rootfs has finished: the host's root and the four image tarballs
    [ -f "$CACHE/pristine/.complete" ] && [ -f "$CACHE/img-base.tar" ] && [ -f "$CACHE/img-python.tar" ] \
        && [ -f "$CACHE/img-node.tar" ] && [ -f "$CACHE/img-caddy.tar" ]
}

ns_init() {  # PID (in this machine's PID namespace) of the host's PID 1: the child of unshare
    local u
    u="$(cat "$CACHE/host-unshare.pid" 2>/dev/null)" || return 0
    # nothing when that process is gone (a run killed with it): down still clears what it left
    if [ -n "$u" ]; then { cat "/proc/$u/task/$u/children" 2>/dev/null || true; } | awk '{print $1}'; fi
}

ssh_host() {
    ssh -i "$KEYS/id_ed25519" -o UserKnownHostsFile="$KEYS/known_hosts" -o StrictHostKeyChecking=yes \
        -o BatchMode=yes -o ConnectTimeout=5 "root@$ADDR_HOST" "$@"
}

netns_up() {
    ip netns add "$NS"
    ip link add "$VETH_ROOT" type veth peer name "$VETH_HOST"
    ip link set "$VETH_HOST" netns "$NS"
    ip addr add "$ADDR_ROOT/24" dev "$VETH_ROOT"
    ip link set "$VETH_ROOT" up
    ip netns exec "$NS" ip addr add "$ADDR_HOST/24" dev "$VETH_HOST"
    ip netns exec "$NS" ip link set "$VETH_HOST" up
    ip netns exec "$NS" ip link set lo up
}

boot_files() {
    # invoke-rc.d asks policy-rc.d before any init script: start dockerd as docker.service would, deny the rest.
    cat >"$LIVE/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
[ "${1:-}" = --quiet ] && shift   # policy-rc.d [--quiet] SERVICE ACTION [RUNLEVEL]
if [ "${1:-}" = docker ]; then
    action="${2:-}"; action="${action#(}"; action="${action%)}"
    case "$action" in
        start|restart|force-reload) /usr/local/sbin/testhost-dockerd start >&2 ;;
        stop) /usr/local/sbin/testhost-dockerd stop >&2 ;;
    esac
fi
exit 101
EOF
    cat >"$LIVE/usr/local/sbin/testhost-dockerd" <<'EOF'
#!/bin/sh
# dockerd as Debian's docker.service starts it (it spawns its own containerd), logging to /var/log/docker.log
case "$1" in
start)
    [ -x /usr/sbin/dockerd ] || { echo "docker.io is not installed" >&2; exit 1; }
    if [ -f /run/docker.pid ] && kill -0 "$(cat /run/docker.pid)" 2>/dev/null; then exit 0; fi
    setsid /usr/sbin/dockerd -H unix:///var/run/docker.sock -p /run/docker.pid </dev/null >>/var/log/docker.log 2>&1 &
    for i in $(seq 150); do docker info >/dev/null 2>&1 && exit 0; sleep 0.2; done
    echo "dockerd did not answer in 30 s" >&2; tail -n 20 /var/log/docker.log >&2; exit 1 ;;
stop)
    [ -f /run/docker.pid ] && kill -TERM "$(cat /run/docker.pid)" 2>/dev/null
    for i in $(seq 60); do
        { [ -f /run/docker.pid ] && kill -0 "$(cat /run/docker.pid)" 2>/dev/null; } || exit 0
        sleep 0.5
    done ;;
esac
EOF
    chmod 755 "$LIVE/usr/sbin/policy-rc.d" "$LIVE/usr/local/sbin/testhost-dockerd"
    echo "nameserver $ADDR_ROOT" >"$LIVE/etc/resolv.conf"   # an address of ours where nothing answers
    mkdir -p "$KEYS" "$LIVE/run/sshd" "$LIVE/root/.ssh"
    [ -f "$KEYS/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C nyxops-test-host -f "$KEYS/id_ed25519"
    cp "$KEYS/id_ed25519.pub" "$LIVE/root/.ssh/authorized_keys"
    chmod 700 "$LIVE/root/.ssh"; chmod 600 "$LIVE/root/.ssh/authorized_keys"
    cat >"$LIVE/etc/ssh/sshd_config.d/nyxops-test.conf" <<CONF
ListenAddress $ADDR_HOST:22
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding yes
PidFile /run/sshd.pid
MaxStartups 50:30:100
MaxSessions 50
CONF
    # Host key checking stays on: the host's key, as a known_hosts line for its address.
    echo "$ADDR_HOST $(cut -d' ' -f1,2 "$LIVE/etc/ssh/ssh_host_ed25519_key.pub")" >"$KEYS/known_hosts"
    # apt lists as fresh as a real host's (apt.update's cache_time skips; there is no route to the mirror)
    mkdir -p "$LIVE/var/lib/apt/periodic"; touch "$LIVE/var/lib/apt/periodic/update-success-stamp"
}

up() {
    local t0=$SECONDS
    built || { log "the root filesystems are not built: run \`bash tests/host/host.sh rootfs\` first (it reaches the Debian mirror; the tests never do)"; exit 1; }
    down >/dev/null 2>&1 || true
    netns_up
    cp -a "$CACHE/pristine" "$LIVE"
    boot_files
    # PID 1 of the host is a small bash loop that reaps orphans; killing it (by PID) ends the host.
    ip netns exec "$NS" unshare --mount --pid --fork --propagation slave bash -c "
        set -e
        mount --bind '$LIVE' '$LIVE'
        mount --rbind /dev '$LIVE/dev'
        mount -t sysfs sysfs '$LIVE/sys'
        mount -t tmpfs -o mode=755 cgroup '$LIVE/sys/fs/cgroup'
        for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
            mkdir -p '$LIVE/sys/fs/cgroup/'\$c; mount -t cgroup -o \$c cgroup '$LIVE/sys/fs/cgroup/'\$c
        done
        mkdir -p '$LIVE/sys/fs/cgroup/systemd'
        mount -t cgroup -o none,name=systemd cgroup '$LIVE/sys/fs/cgroup/systemd'
        cd '$LIVE'; mkdir -p .oldroot; pivot_root . .oldroot; cd /
        mount -t proc proc /proc
        mount -t tmpfs -o mode=755 tmpfs /run; mkdir -p /run/sshd /run/lock
        umount -l /.oldroot; rmdir /.oldroot
        /usr/sbin/sshd -E /var/log/sshd.log
        trap : CHLD
        while :; do sleep 5 & wait \$! 2>/dev/null || true; done" </dev/null >"$CACHE/host-init.log" 2>&1 &
    echo $! >"$CACHE/host-unshare.pid"
    for _ in $(seq 100); do
        if ssh_host true 2>/dev/null; then log "host up: $ADDR_HOST ($LIVE) in $((SECONDS - t0)) s"; return 0; fi
        sleep 0.2
    done
    log "sshd did not start: $(cat "$LIVE/var/log/sshd.log" "$CACHE/host-init.log" 2>/dev/null)"
    exit 1
}

in_host() {  # a command inside the running host's namespaces, its root and working directory
    local init; init="$(ns_init)"
    [ -n "$init" ] || { log "the host is not running"; exit 1; }
    nsenter -t "$init" -m -n -p -r -w "$@"
}

images() {
    local t0=$SECONDS site
    in_host docker info >/dev/null 2>&1 || { log "no dockerd answers on the host: run the host stage first"; exit 1; }
    local path='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    in_host docker import --change "$path" - nyx/base:bookworm <"$CACHE/img-base.tar" >/dev/null
    in_host docker import --change "$path" - nyx/python:bookworm <"$CACHE/img-python.tar" >/dev/null
    in_host docker import --change "$path" - nyx/node:bookworm <"$CACHE/img-node.tar" >/dev/null
    in_host docker import --change "$path" - nyx/caddy:bookworm <"$CACHE/img-caddy.tar" >/dev/null
    rm -rf "$LIVE/root/images"; mkdir -p "$LIVE/root/images"
    cp -a "$HERE/images/pg" "$HERE/images/ollama" "$HERE/images/caddy" "$LIVE/root/images/"
    site="$("$PYTHON" -c 'import os, pgserver; print(os.path.dirname(os.path.dirname(pgserver.__file__)))')"
    cp -a "$site/pgserver" "$site/pgserver.libs" "$LIVE/root/images/pg/"
    find "$LIVE/root/images/pg/pgserver" -name __pycache__ -prune -exec rm -rf {} +
    in_host docker build -q -t pgvector/pgvector:pg16 /root/images/pg >/dev/null
    in_host docker build -q -t ollama/ollama:latest /root/images/ollama >/dev/null
    in_host docker build -q -t caddy:2 /root/images/caddy >/dev/null
    log "images ready in $((SECONDS - t0)) s"
}

git_c() { git -C "$LIVE/root/app-work" -c user.name=nyxops-test -c user.email=test@localhost "$@"; }

repo() {
    local work="$LIVE/root/app-work"
    rm -rf "$work" "$LIVE/srv/git/nyxcore.git"; mkdir -p "$work" "$LIVE/srv/git"
    cp -a "$HERE/images/app/." "$work/"
    # The app's first (Prisma) migration: the shape of nyxcore's schema, with its seed data.
    mkdir -p "$work/prisma/migrations/0_init"
    cp "$HERE/../../src/nyxops/fixtures/nyxcore_schema.sql" "$work/prisma/migrations/0_init/migration.sql"
    git -C "$work" init -q -b production
    git_c add -A
    git_c commit -qm "nyxcore stand-in"
    git clone -q --bare "$work" "$LIVE/srv/git/nyxcore.git"
    git_c rev-parse HEAD
}

commit() {  # commit [FILE CONTENT]: a new commit on production, pushed to the host's repository
    local work="$LIVE/root/app-work"
    if [ "$#" -ge 2 ]; then printf '%s\n' "$2" >"$work/$1"; else echo "// release $(date +%s%N)" >>"$work/server.js"; fi
    git_c add -A
    git_c commit -qm "release $(date +%s%N)"
    git_c push -q "$LIVE/srv/git/nyxcore.git" production
    git_c rev-parse HEAD
}

remove() {  # remove FILE: a new commit on production without FILE; prints its hash
    local work="$LIVE/root/app-work"
    git_c rm -q "$1"
    git_c commit -qm "remove $1"
    git_c push -q "$LIVE/srv/git/nyxcore.git" production
    git_c rev-parse HEAD
}

down() {
    local init u
    init="$(ns_init)"; u="$(cat "$CACHE/host-unshare.pid" 2>/dev/null || true)"
    if [ -n "$init" ]; then
        ssh_host '/usr/local/sbin/testhost-dockerd stop' >/dev/null 2>&1 || true   # graceful: stops its containers
        kill -KILL "$init" 2>/dev/null || true   # PID 1 of the host's PID namespace: the kernel ends all inside
        for _ in $(seq 50); do kill -0 "$u" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$CACHE/host-unshare.pid"
    if ip netns list | grep -qw "$NS"; then
        # Whatever still runs in our own namespace (a host left by a killed run) is ours: end it by PID.
        for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        ip link del "$VETH_ROOT" 2>/dev/null || true
        ip netns del "$NS"
    fi
    if [ -d "$LIVE" ]; then
        local real; real="$(cd "$LIVE" && pwd -P)"
        awk -v p="$real" '$2 == p || index($2, p "/") == 1 {print $2}' /proc/self/mounts | sort -r |
            while read -r m; do umount -l "$m" 2>/dev/null || true; done
        rm -rf "$LIVE"
    fi
    log "host down"
}

case "${1:-}" in
    deps) deps ;;
    rootfs) rootfs ;;
    up) up ;;
    images) images ;;
    repo) repo ;;
    commit) shift; commit "$@" ;;
    remove) shift; remove "$1" ;;
    ssh) shift; ssh_host "$@" ;;
    exec) shift; in_host "$@" ;;
    init) ns_init ;;
    down) down ;;
    *) echo "usage: $0 deps|rootfs|up|images|repo|commit [FILE CONTENT]|remove FILE|ssh CMD|exec CMD...|init|down" >&2
       exit 2 ;;
esac
