"""The host's audit log: one JSON line per deploy, per stage and per release action, appended.

Lines are built from named fields only (who, from where, ref, commit, image, migrations and their
reviewers, backup, verify, duration, outcome), and every known secret value is scrubbed from the
line before it leaves this machine: an error text quoted in it can never carry one to the host.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from nyxops.release.layout import Layout
from nyxops.release.lock import now_utc
from nyxops.release.shell import Shell


def line(record: Mapping[str, Any], secrets: Iterable[str] = ()) -> str:
    text = json.dumps({"at": now_utc(), **record}, ensure_ascii=True, default=str)
    for secret in secrets:
        if secret:  # as written, as a URL carries it, and as JSON escapes it
            for form in {secret, quote(secret, safe=""), json.dumps(secret, ensure_ascii=True)[1:-1]}:
                text = text.replace(form, "***")
    return text


def append_lines(shell: Shell, layout: Layout, path: str, lines: Iterable[str]) -> None:
    """Append whole lines to a file of nyxops' folder on the host (mode 0600), in one printf."""
    quoted = " ".join(shlex.quote(text) for text in lines)
    if not quoted:
        return
    target = shlex.quote(path)
    ran = shell.sh(f"{layout.make_state()} && printf '%s\\n' {quoted} >>{target} && chmod 600 {target}")
    if ran.code != 0:
        from nyxops.errors import RemoteError

        raise RemoteError(f"{path} on {shell.name} could not be written: {ran.stderr[-300:]}")


def append(shell: Shell, layout: Layout, records: Iterable[Mapping[str, Any]], secrets: Iterable[str] = ()) -> None:
    known = [s for s in secrets if s]
    append_lines(shell, layout, layout.audit, [line(r, known) for r in records])


def last(shell: Shell, layout: Layout, count: int = 20) -> list[dict[str, Any]]:
    ran = shell.sh(f"tail -n {int(count)} {shlex.quote(layout.audit)} 2>/dev/null || true", timeout=30)
    entries = []
    for text in ran.stdout.splitlines():
        try:
            entries.append(json.loads(text))
        except ValueError:
            entries.append({"unreadable": text[:200]})
    return entries
