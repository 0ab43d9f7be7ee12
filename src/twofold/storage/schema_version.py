"""The schema's revision, read without Alembic.

A serving process only compares the database's revision with the code's newest one; Alembic
(and Mako and Pygments with it) would stay resident in every worker for that one look, some
25 MiB. The migration files are read as text: `revision = "..."`, `down_revision = ...`.
tests/storage/test_migrations.py checks the answer against Alembic's own."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sqlalchemy import Connection, inspect, text

VERSIONS = Path(__file__).parent / "migrations" / "versions"
_ASSIGNMENT = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


def _names(value: object) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return {value}
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return set(value)
    raise ValueError(f"a migration's revision is not a name: {value!r}")


def head_revision() -> str | None:
    """The code's newest migration (the one no other migration builds on)."""
    revisions: set[str] = set()
    bases: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        for name, value in _ASSIGNMENT.findall(path.read_text(encoding="utf-8")):
            names = _names(ast.literal_eval(value.strip()))
            (revisions if name == "revision" else bases).update(names)
    heads = revisions - bases
    if len(heads) > 1:
        raise RuntimeError(f"the migrations have several heads: {sorted(heads)}")
    return next(iter(heads), None)


def current_revision(conn: Connection) -> str | None:
    """The database's revision; None when it was never migrated."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return str(row[0]) if row else None
