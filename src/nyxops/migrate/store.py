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
_PRISMA = re.compile(r"^(?P<version>\d+)_(?P<slug>[A-Za-z0-9][A-Za-z0-9_\-]*)$")
_OTHER_LAYOUTS = {
    "golang-migrate": (re.compile(r"^\d+_[^.]+\.(up|down)\.sql$"), "NNN_name.up.sql / .down.sql"),
    "Flyway": (re.compile(r"^[VUR]\d+(?:[._]\d+)*__.+\.sql$", re.I), "V1__name.sql"),
}


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
    label: str = ""
    """Its name in the history and the review manifest: the file name, or for Prisma the folder's."""

    @property
    def name(self) -> str:
        return self.label or self.path.name


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def discover(directory: Path) -> list[MigrationFile]:
    """The folder's migration files in version order; a misnamed .sql file is an error, not skipped.

    Two layouts: nyxops' own ``NNNN_slug.sql``, and Prisma's ``<timestamp>_<name>/migration.sql``
    (so a team can keep ``prisma migrate diff --script`` as its generator and nyxops as its runner).
    A folder with neither is not "up to date": what was found is named, with the way to move over.
    """
    if not directory.is_dir():
        raise UsageError(f"migrations folder {directory} does not exist (pass --dir)")
    flat = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() == ".sql")
    prisma = sorted(p for p in directory.glob("*/migration.sql") if p.is_file())
    if flat and prisma:
        raise UsageError(
            f"{directory} mixes NNNN_slug.sql files ({flat[0].name}…) and Prisma folders ({prisma[0].parent.name}/…): "
            "keep one layout per folder"
        )
    if prisma:
        return _prisma(prisma)
    if not flat:
        raise UsageError(f"{directory} holds no migration: {_found(directory)}")
    _other_layout(directory, flat)
    files: list[MigrationFile] = []
    seen: dict[str, Path] = {}
    for path in flat:
        match = _NAME.match(path.name)
        if match is None:
            raise UsageError(f"{path}: migration files are named NNNN_slug.sql (lower case), e.g. 0004_add_index.sql")
        version = match["version"]
        if version in seen:
            raise UsageError(f"{path} and {seen[version]} share version {version}; renumber one of them")
        seen[version] = path
        files.append(MigrationFile(version, match["slug"], path, sha256_of(path)))
    return sorted(files, key=lambda f: int(f.version))


def _prisma(paths: list[Path]) -> list[MigrationFile]:
    files: list[MigrationFile] = []
    seen: dict[str, Path] = {}
    for path in paths:
        folder = path.parent.name
        match = _PRISMA.match(folder)
        if match is None:
            raise UsageError(f"{path.parent}: Prisma migration folders are named <timestamp>_<name>")
        if match["version"] in seen:
            raise UsageError(f"{path.parent} and {seen[match['version']]} share the timestamp {match['version']}")
        seen[match["version"]] = path.parent
        files.append(MigrationFile(match["version"], match["slug"], path, sha256_of(path), f"{folder}/migration.sql"))
    return sorted(files, key=lambda f: int(f.version))


def _other_layout(directory: Path, files: list[Path]) -> None:
    for tool, (pattern, shape) in _OTHER_LAYOUTS.items():
        if all(pattern.match(p.name) for p in files):
            raise UsageError(
                f"{directory} is laid out for {tool} ({shape}: {len(files)} files, e.g. {files[0].name}). nyxops "
                'runs NNNN_slug.sql files or Prisma folders: see the README, "Moving over from another tool".'
            )


def _found(directory: Path) -> str:
    entries = sorted(directory.iterdir())
    if not entries:
        return "the folder is empty. Migration files are named NNNN_slug.sql, e.g. 0001_init.sql."
    shown = ", ".join(p.name + ("/" if p.is_dir() else "") for p in entries[:5])
    more = f" and {len(entries) - 5} more" if len(entries) > 5 else ""
    return f"found {shown}{more}, but no NNNN_slug.sql file and no <timestamp>_<name>/migration.sql folder."


def folder_of(path: Path) -> Path:
    """The migrations folder a file belongs to: its own folder, or for Prisma's migration.sql the one above."""
    return path.parent.parent if path.name == "migration.sql" else path.parent


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
