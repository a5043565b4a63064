"""Defaults that the settings model and the paths that run without it must agree on.

``nyxops lint`` runs in the app's CI on every push and does not load the settings model when
nothing configures nyxops (see ``guard.lint.configured_policy``); it reads these instead.
"""

PROTECTED_COLUMNS = ("public.workflow_insights.embedding",)
"""The column whose loss started nyxops: 1719 rows re-embedded after ``prisma db push``."""

PREPARED_PREFIX = "_pg3_"
"""The names psycopg gives the statements it prepares (``_pg3_0``, ``_pg3_1`` …), which SQL's own
PREPARE and DEALLOCATE reach too (the server keeps one namespace per session): lint's guard-tamper
and the run-time check in ``db.own_reads`` both refuse a migration's statement of that name."""
