"""Every setting the code reads is in the README's table, under the one name both sides read."""

from __future__ import annotations

import re
from pathlib import Path

from nyxops.config import Settings
from nyxops.deploy.hostdata import HostData

README = (Path(__file__).parents[2] / "README.md").read_text()


def _names(model: type) -> set[str]:
    names = set()
    for field, info in model.model_fields.items():  # type: ignore[attr-defined]
        alias = info.validation_alias
        choices = getattr(alias, "choices", None)
        names.add(str(choices[-1]) if choices else "NYXOPS_" + field.upper())
    return names


def test_every_setting_is_in_the_readme_table() -> None:
    table = README.split("## Every setting", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`((?:NYXOPS|OPENAI|OLLAMA|NYXCORE)_[A-Z_]+|DATABASE_URL)`", table))
    missing = (_names(Settings) | _names(HostData)) - documented
    assert not missing, f"settings missing from the README table: {sorted(missing)}"


def test_deploy_and_verify_share_the_ollama_names() -> None:
    shared = {n for n in _names(Settings) & _names(HostData) if "OLLAMA" in n}
    assert {"NYXOPS_OLLAMA_MODELS", "NYXOPS_OLLAMA_MEMORY", "NYXOPS_OLLAMA_CONTEXT_LENGTH"} <= shared
