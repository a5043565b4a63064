"""Defaults that the settings model and the paths that run without it must agree on.

``nyxops lint`` runs in the app's CI on every push and does not load the settings model when
nothing configures nyxops (see ``guard.lint.configured_policy``); it reads these instead.
"""

PROTECTED_COLUMNS = ("public.workflow_insights.embedding",)
"""The column whose loss started nyxops: 1719 rows re-embedded after ``prisma db push``."""
