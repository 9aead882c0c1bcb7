"""Incident categories (the ``incident_categories`` table): code, Chinese and English name, SLA hours.

The defaults come from ``geo.layers.INCIDENT_CATEGORIES`` (seeded by the first migration); a
district adds its own with ``gridmap categories add`` (:func:`add_category`).  An incident whose
category is not in the table is refused at intake, and the refusal names that command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, text

from api.errors import Conflict, ValidationFailed
from geo.errors import Problem

__all__ = ["ADD_COMMAND", "CODE_PATTERN", "DEFAULT_SLA_HOURS", "Category", "add_category", "list_categories"]

#: A category code: lower-case ASCII letters, digits and underscores, starting with a letter.
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DEFAULT_SLA_HOURS = 72
#: How a user adds a category (named by every "unknown category" refusal).
ADD_COMMAND = "gridmap categories add CODE --zh NAME --en NAME [--sla-hours N]"


@dataclass(frozen=True)
class Category:
    """One incident category; ``sla_hours``: hours from report to the due time."""

    code: str
    name_zh: str
    name_en: str
    sla_hours: int

    def as_dict(self) -> dict:
        return {"code": self.code, "name_zh": self.name_zh, "name_en": self.name_en, "sla_hours": self.sla_hours}


def list_categories(conn: Connection) -> list[Category]:
    """Every category, by code."""
    return [Category(*r) for r in conn.execute(text(
        "SELECT code, name_zh, name_en, sla_hours FROM incident_categories ORDER BY code")).all()]


def add_category(conn: Connection, code: str, *, name_zh: str, name_en: str,
                 sla_hours: int = DEFAULT_SLA_HOURS) -> Category:
    """Add a category in the caller's transaction.

    Raises
    ------
    ValidationFailed
        A code not matching :data:`CODE_PATTERN`, an empty name, ``sla_hours`` < 1 (each field named).
    Conflict
        The code exists already (its names and SLA are in the message).
    """
    code = (code or "").strip()
    name_zh, name_en = (name_zh or "").strip(), (name_en or "").strip()
    problems = []
    if not CODE_PATTERN.match(code):
        problems.append(Problem(f"code {code!r} must be lower-case letters, digits and _ (starting with a letter, "
                                "at most 64)", field="code"))
    if not name_zh:
        problems.append(Problem("a Chinese name is required (--zh)", field="name_zh"))
    if not name_en:
        problems.append(Problem("an English name is required (--en)", field="name_en"))
    if not isinstance(sla_hours, int) or sla_hours < 1:
        problems.append(Problem(f"sla_hours must be a whole number of hours >= 1, not {sla_hours!r}",
                                field="sla_hours"))
    if problems:
        raise ValidationFailed("; ".join(p.reason for p in problems), problems)
    old = conn.execute(text("SELECT code, name_zh, name_en, sla_hours FROM incident_categories WHERE code = :c"),
                       {"c": code}).first()
    if old is not None:
        raise Conflict(f"category {code!r} exists already ({old.name_zh} / {old.name_en}, "
                       f"{old.sla_hours} h)", category=Category(*old).as_dict())
    conn.execute(text("INSERT INTO incident_categories (code, name_zh, name_en, sla_hours) "
                      "VALUES (:c, :zh, :en, :sla)"), {"c": code, "zh": name_zh, "en": name_en, "sla": sla_hours})
    return Category(code, name_zh, name_en, sla_hours)
