#!/usr/bin/env bash
# Placeholder until the SSH test host lands: installs nothing.
set -euo pipefail
case "${1:-}" in deps) exit 0 ;; *) exit 0 ;; esac
