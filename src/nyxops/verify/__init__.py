"""Post-deploy verification. This package's top is the API the checks in ``checks/`` import.

``from nyxops.verify import CheckResult, Context, passed, failed, skipped, unavailable`` is what a
team's check needs; the runner (``runner``) and the tunnels (``session``) are the CLI's and the
deploy's, and stay out of a check's way.
"""

from nyxops.verify.check import CheckResult, Context, Remote, Status, failed, passed, skipped, unavailable

__all__ = ["CheckResult", "Context", "Remote", "Status", "failed", "passed", "skipped", "unavailable"]
