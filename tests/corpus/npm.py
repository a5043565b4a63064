"""A package's tarball from npm's registry, pinned by version and the registry's own sha512: SQL
nobody here wrote, fetched before the tests (tests/corpus/fetch.py) and never committed."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import urllib.request


def registry() -> str:
    """The registry npm would use here: its environment setting (any case), else its configuration."""
    settings = {key.lower(): value for key, value in os.environ.items()}
    if "npm_config_registry" in settings:
        return settings["npm_config_registry"]
    npm = shutil.which("npm")
    if npm is not None:
        done = subprocess.run([npm, "config", "get", "registry"], capture_output=True, text=True, timeout=60)
        if done.returncode == 0 and done.stdout.strip().startswith("http"):
            return done.stdout.strip()
    return "https://registry.npmjs.org/"


def tarball(package: str, version: str, integrity: str) -> tarfile.TarFile:
    """The published tarball, opened; refused unless its sha512 is the one the registry published."""
    return tarfile.open(fileobj=io.BytesIO(_published(package, version, integrity)), mode="r:gz")


@functools.lru_cache(maxsize=2)
def _published(package: str, version: str, integrity: str) -> bytes:
    """Downloaded once per run: the contrib scripts and PostgreSQL 18's server come from one package."""
    name = package.split("/")[-1]
    url = f"{registry().rstrip('/')}/{package}/-/{name}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=300) as answer:
        data: bytes = answer.read()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert digest == integrity, f"{url}: not the tarball the registry published ({digest})"
    return data
