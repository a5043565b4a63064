"""``nyxops verify``, ``backfill`` and ``demo``: registered on the same app as the migration commands."""

from __future__ import annotations
