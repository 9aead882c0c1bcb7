"""Errors raised by gridmap's pure computation, carrying what was wrong and where.

``api.errors`` maps these onto HTTP problem details; the CLI prints them.  Nothing here knows
about the web.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input.

    Attributes
    ----------
    reason : str
        What is wrong, in words a user can act on.
    row : int, optional
        1-based row or feature number in the input file or request, when it is one row's fault.
    field : str, optional
        Column or property at fault.
    feature_id : str, optional
        The feature's own identifier (code, source_id, external_id) when it has one.
    """

    reason: str
    row: int | None = None
    field: str | None = None
    feature_id: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.feature_id is not None:
            where.append(f"id {self.feature_id}")
        if self.field is not None:
            where.append(f"field {self.field}")
        return (", ".join(where) + ": " if where else "") + self.reason


class InvalidInput(ValueError):
    """Input that cannot be used as it is; ``problems`` lists every fault found, not just the first."""

    def __init__(self, title: str, problems: list[Problem] | None = None):
        self.title = title
        self.problems = list(problems or [])
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if not self.problems:
            return self.title
        head = "; ".join(str(p) for p in self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        return f"{self.title}: {head}{more}"
