"""Migration files and their review manifest. Knows nothing of the database (alembic's ``script/``)."""

from __future__ import annotations

import getpass
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nyxops.errors import ReviewError, UsageError

MANIFEST = "reviews.json"
_NAME = re.compile(r"^(?P<version>\d{4,})_(?P<slug>[a-z0-9][a-z0-9_\-]*)\.sql$")


@dataclass(frozen=True)
class Review:
    sha256: str
    reviewed_by: str
    reviewed_at: str


@dataclass(frozen=True)
class MigrationFile:
    version: str
    slug: str
    path: Path
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def discover(directory: Path) -> list[MigrationFile]:
    """The folder's migration files in version order; a misnamed .sql file is an error, not skipped."""
    if not directory.is_dir():
        raise UsageError(f"migrations folder {directory} does not exist (pass --dir)")
    files: list[MigrationFile] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise UsageError(f"{path}: migration files are named NNNN_slug.sql (lower case), e.g. 0004_add_index.sql")
        version = match["version"]
        if version in seen:
            raise UsageError(f"{path} and {seen[version]} share version {version}; renumber one of them")
        seen[version] = path
        files.append(MigrationFile(version, match["slug"], path, sha256_of(path)))
    return sorted(files, key=lambda f: int(f.version))


def load_reviews(directory: Path) -> dict[str, Review]:
    path = directory / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return {name: Review(**entry) for name, entry in data.get("files", {}).items()}
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{path} is not a valid review manifest ({exc}); restore it from git") from None


def save_reviews(directory: Path, reviews: dict[str, Review]) -> None:
    data = {
        "about": "sha256 of each reviewed migration; written by `nyxops migrate review`, committed with the files",
        "files": {name: vars(r) for name, r in sorted(reviews.items())},
    }
    (directory / MANIFEST).write_text(json.dumps(data, indent=2) + "\n")


def review(directory: Path, paths: list[Path], reviewer: str) -> list[MigrationFile]:
    """Record each file's current sha256 and reviewer in the manifest."""
    if not reviewer.strip():
        raise UsageError("--by needs the reviewer's name")
    known = {f.path.resolve(): f for f in discover(directory)}
    reviews = load_reviews(directory)
    done: list[MigrationFile] = []
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for path in paths:
        file = known.get(path.resolve())
        if file is None:
            raise UsageError(f"{path} is not a migration file in {directory}")
        reviews[file.name] = Review(file.sha256, reviewer.strip(), now)
        done.append(file)
    save_reviews(directory, reviews)
    return done


def require_reviewed(file: MigrationFile, reviews: dict[str, Review]) -> Review:
    entry = reviews.get(file.name)
    if entry is None:
        raise ReviewError(
            f"{file.name} is not reviewed. Have it reviewed, then record it: "
            f"nyxops migrate review {file.path} --by <reviewer>"
        )
    if entry.sha256 != file.sha256:
        raise ReviewError(
            f"{file.name} changed after {entry.reviewed_by} reviewed it (sha256 {entry.sha256[:12]} reviewed, "
            f"{file.sha256[:12]} now). Get the new content reviewed and run nyxops migrate review again."
        )
    return entry


def operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
