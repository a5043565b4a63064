"""What a lint or a migration is checked against: the protected columns.

A module of its own so that ``nyxops lint`` can build it, and key its cache by it, without
importing the rules and the parser (a fully cached run imports neither).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nyxops.defaults import PROTECTED_COLUMNS
from nyxops.guard.model import ANY_PROTECTED, Finding
from nyxops.names import QualifiedName


@dataclass(frozen=True)
class Policy:
    protected: tuple[QualifiedName, ...] = tuple(QualifiedName.parse(n, parts=(2, 3)) for n in PROTECTED_COLUMNS)

    @classmethod
    def from_names(cls, names: Iterable[str]) -> Policy:
        return cls(tuple(QualifiedName.parse(n, parts=(2, 3)) for n in names))

    def protected_hit(self, finding: Finding) -> QualifiedName | None:
        """The protected column a finding would destroy, if any."""
        for col in self.protected:
            for touched in finding.columns:
                if touched == ANY_PROTECTED or (
                    (touched.schema, touched.table, touched.column) == (col.schema, col.table, col.column)
                ):
                    return col
            for table in finding.tables:
                if table.schema in ("*", col.schema) and table.table in ("*", col.table):
                    return col
        return None
