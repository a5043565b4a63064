"""The benchmarks' own honesty: a contender that fails is an error, never a fast figure."""

from __future__ import annotations

import sys

import pytest

from bench.common import ContenderFailed, timed


def test_a_contender_that_fails_is_refused_with_what_it_said() -> None:
    failing = [sys.executable, "-c", "import sys; sys.stderr.write('no such database'); sys.exit(3)"]
    with pytest.raises(ContenderFailed, match=r"exited 3 \(expected \(0,\)\):\nno such database"):
        timed(failing)


def test_exit_codes_a_contender_may_end_with_are_timed() -> None:
    findings = [sys.executable, "-c", "import sys; sys.exit(1)"]  # squawk's exit code when it finds something
    assert timed(findings, ok=(0, 1)) > 0
    with pytest.raises(ContenderFailed, match="exited 1"):
        timed(findings)
