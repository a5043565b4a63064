"""The states of ``migrate status`` that more than one module decides by.

The CLI's exit code and the deploy's list of files still to run both read them: a state added
in one place and missed in the other would make a deploy run past a broken database, or count
what an interrupted statement left as a file to apply.
"""

from __future__ import annotations

INVALID_INDEX = "invalid-index"
PENDING_DETACH = "pending-detach"
LEFT_BEHIND = (INVALID_INDEX, PENDING_DETACH)
"""Not a file's state: what an interrupted concurrent statement left, listed among the files."""
NOT_WELL = frozenset({"drifted", "unreviewed", "changed-since-review", "missing-file", *LEFT_BEHIND})
"""States that make ``migrate status`` exit 1 (pending files are expected between deploys)."""
