"""The ``nyxops`` command: parse flags, call one function, render its result. Nothing else lives here.

One module per concern, each registering its commands on the root group of ``base``:
``migrate`` (lint, migrate, protect), ``ops`` (verify, backfill, demo), ``running`` (nyxops app …),
``release`` (lock, audit, db, rollback); the renderers beside them. Command modules import
``base`` only, never each other.
"""

from __future__ import annotations

import sys

import click

from nyxops.cli.base import app, err


def main() -> None:
    from nyxops.cli import migrate, ops, release, running  # noqa: F401  (each registers its commands)

    try:
        code = app.main(prog_name="nyxops", standalone_mode=False)
    except (click.Abort, KeyboardInterrupt):
        err().print("interrupted: committed work stays committed; run the same command again to continue")
        import threading

        if threading.active_count() > 1:  # a worker stuck in a provider's request: do not wait for it
            import os

            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SystemExit as exc:  # finish(code): lint's 0, 1 or 2 leave the quick way too
        if exc.code is not None and not isinstance(exc.code, int):
            raise
        code = exc.code or 0
    _leave(code if isinstance(code, int) else 0)


def _leave(code: int) -> None:
    """Exit without freeing the heap object by object.

    Why: after a 10,000-statement apply the interpreter spent 0.15 s tearing down parse trees the
    OS frees at once. Exit handlers still run (logging's flush, an embedded server's stop), and a
    run with threads still alive exits the normal way so that nothing is cut short.
    """
    import atexit
    import os
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
