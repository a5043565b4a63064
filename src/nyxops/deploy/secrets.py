"""The app's ``.env``: secrets from the operator's environment or a file outside git, never printed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from nyxops.deploy.hostdata import HostData
from nyxops.errors import ConfigError

REQUIRED = ("POSTGRES_PASSWORD", "AUTH_SECRET", "ADMIN_SECRET", "OPENAI_API_KEY")
PREFIX = "NYXCORE_"


def _read_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise ConfigError(f"secrets file {path} does not exist")
    inside = subprocess.run(
        ["git", "-C", str(path.parent), "ls-files", "--error-unmatch", path.name],
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    if inside.returncode == 0:
        raise ConfigError(f"secrets file {path} is tracked by git; move it out of the repository and rotate it")
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected NAME=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_secrets(data: HostData, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``NYXCORE_<NAME>`` from the environment over the secrets file; every required one present."""
    environ = os.environ if environ is None else environ
    values = _read_file(data.secrets_file) if data.secrets_file else {}
    for key, value in environ.items():
        if key.startswith(PREFIX) and value:
            values[key.removeprefix(PREFIX)] = value
    missing = [name for name in REQUIRED if not values.get(name)]
    if missing:
        hint = (
            " ADMIN_SECRET is never derived from AUTH_SECRET: set it on purpose." if "ADMIN_SECRET" in missing else ""
        )
        names = ", ".join(PREFIX + m for m in missing)
        raise ConfigError(f"missing secret(s): {names} (environment, or NYXOPS_SECRETS_FILE outside git).{hint}")
    for name, value in values.items():
        if "\n" in value or "'" in value:
            raise ConfigError(f"secret {name} contains a newline or a single quote, which .env cannot carry")
    return values


def env_file(data: HostData, secrets: Mapping[str, str]) -> str:
    """The ``.env`` text: single-quoted values, so compose never interpolates ``$`` inside secrets."""
    password = quote(secrets["POSTGRES_PASSWORD"], safe="")
    values = {
        "NODE_ENV": "production",
        "POSTGRES_USER": "nyxcore",
        "POSTGRES_DB": "nyxcore",
        "DATABASE_URL": f"postgresql://nyxcore:{password}@db:5432/nyxcore",
        "OLLAMA_BASE_URL": "http://ollama:11434",
        "OLLAMA_DEFAULT_MODEL": data.default_model,
        **{k: v for k, v in secrets.items() if k not in ("DATABASE_URL",)},
    }
    return "".join(f"{key}='{value}'\n" for key, value in sorted(values.items()))
