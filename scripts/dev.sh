#!/usr/bin/env bash
# nyxops developer entry point.
#   bash scripts/dev.sh demo    the main job on an embedded PostgreSQL + pgvector (lint, dry run, apply, status, verify)
#   bash scripts/dev.sh test    everything CI runs: ruff, mypy, pytest (real PostgreSQL, real SSH, real HTTP)
#   bash scripts/dev.sh bench   the side-by-side benchmarks behind the README's table
set -euo pipefail
cd "$(dirname "$0")/.."

venv() {
    if [ ! -x .venv/bin/python ]; then
        if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
            if [ "$(id -u)" = 0 ]; then
                DEBIAN_FRONTEND=noninteractive apt-get update -qq
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            else
                echo "python3 -m venv is missing: sudo apt-get install python3-venv" >&2
                exit 1
            fi
        fi
        python3 -m venv .venv
    fi
    .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
    .venv/bin/python -m pip install --quiet -e '.[test]'
}

case "${1:-}" in
    demo)
        venv
        exec .venv/bin/nyxops demo
        ;;
    test)
        venv
        # Everything the tests read from outside is fetched first; the tests then reach only loopback
        # and the test host's veth pair (tests/network_rule.py).
        .venv/bin/python -m tests.corpus.fetch
        if [ "$(id -u)" = 0 ]; then
            bash tests/host/host.sh deps
            bash tests/host/host.sh rootfs
        fi
        .venv/bin/ruff check src tests bench deploys checks inventory.py
        .venv/bin/ruff format --check src tests bench deploys checks inventory.py
        .venv/bin/mypy src bench
        if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
            # As root, in a network namespace of the suite's own: loopback, then the host's pair once it is up.
            exec unshare --net -- bash -c 'ip link set lo up && exec .venv/bin/pytest -q'
        fi
        exec .venv/bin/pytest -q
        ;;
    bench)
        venv
        shift
        exec .venv/bin/python -m bench "$@"
        ;;
    *)
        echo "usage: bash scripts/dev.sh demo|test|bench" >&2
        exit 2
        ;;
esac
