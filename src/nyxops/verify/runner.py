"""``nyxops verify``: discover the checks in ``checks/``, run them concurrently, collect results.

A check is a small module with ``NAME``, ``TIMEOUT`` (seconds) and ``run(ctx) -> CheckResult``
(``nyxops.verify.check``). The deploy's ``verify`` stage and the CLI call the same ``run_checks``.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from types import ModuleType

import psycopg

from nyxops.errors import NyxopsError, UsageError
from nyxops.verify.check import CheckResult, Context, failed, unavailable


def default_checks_dir() -> Path:
    here = Path.cwd() / "checks"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[3] / "checks"


def discover(folder: Path) -> list[ModuleType]:
    if not folder.is_dir():
        raise UsageError(f"checks folder {folder} not found (run from the nyxops repository, or pass --checks)")
    modules = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"nyxops_checks.{path.stem}", path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for attr in ("NAME", "TIMEOUT", "run"):
            if not hasattr(module, attr):
                raise UsageError(f"{path} is not a check: it needs NAME, TIMEOUT and run(ctx)")
        modules.append(module)
    return modules


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _run_one(module: ModuleType, ctx: Context) -> CheckResult:
    started = time.perf_counter()
    try:
        result: CheckResult = module.run(ctx)
    except psycopg.OperationalError as exc:  # the database not (yet) accepting connections
        result = unavailable(f"database unreachable: {_first_line(exc) or exc.__class__.__name__}")
    except NyxopsError as exc:
        result = failed(str(exc))
    except Exception as exc:  # a check that crashes is a failing check, reported like the others
        result = failed(f"check crashed: {exc.__class__.__name__}: {_first_line(exc)}")
    result.name = module.NAME
    result.seconds = time.perf_counter() - started
    return result


def _round(ctx: Context, modules: list[ModuleType]) -> list[CheckResult]:
    pool = ThreadPoolExecutor(max_workers=max(len(modules), 1), thread_name_prefix="check")
    futures = [(m, pool.submit(_run_one, m, ctx)) for m in modules]
    results = []
    deadline_start = time.monotonic()
    for module, future in futures:
        remaining = module.TIMEOUT - (time.monotonic() - deadline_start)
        try:
            results.append(future.result(timeout=max(remaining, 0.01)))
        except FutureTimeout:
            results.append(
                CheckResult(module.NAME, "fail", f"timed out after {module.TIMEOUT}s", {}, module.TIMEOUT, retry=True)
            )
    pool.shutdown(wait=False, cancel_futures=True)
    return results


def run_checks(
    ctx: Context,
    modules: list[ModuleType],
    only: list[str] | None = None,
    wait_seconds: float = 0,
    on_round: Callable[[list[CheckResult]], None] | None = None,
) -> list[CheckResult]:
    """Run every check; with ``wait_seconds``, retry the failures waiting can clear until they pass or time runs out.

    A failure no wait can clear (a missing trigger, pending migrations, lost embeddings) ends the wait at once:
    the run fails whatever the services starting beside it do.
    """
    if only:
        names = {m.NAME for m in modules}
        unknown = sorted(set(only) - names)
        if unknown:
            raise UsageError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        modules = [m for m in modules if m.NAME in only]
    deadline = time.monotonic() + wait_seconds
    results = {r.name: r for r in _round(ctx, modules)}
    while wait_seconds and time.monotonic() < deadline:
        failures = [m for m in modules if results[m.NAME].status == "fail"]
        failing = [m for m in failures if results[m.NAME].retry]
        if not failing or len(failing) < len(failures):  # nothing to wait for, or failing whatever the wait
            break
        if on_round:
            on_round(list(results.values()))
        time.sleep(min(2.0, max(deadline - time.monotonic(), 0)))
        results.update({r.name: r for r in _round(ctx, failing)})
    return [results[m.NAME] for m in modules]


def summary(results: list[CheckResult]) -> dict[str, object]:
    """The verdict on top of the JSON report: ok, and how many checks passed, failed, were skipped."""
    counts = {status: sum(r.status == status for r in results) for status in ("pass", "fail", "skip")}
    return {"ok": counts["fail"] == 0, "counts": counts}
