"""Core statements compiled once for a driver's own connection (storage/aio.py for psycopg,
storage/lite.py for sqlite3), with SQLAlchemy's own conversions of their parameters and
result columns: the hot paths send them without the engine's per-statement work (its
connection and transaction events, its result machinery), which cost several times a
statement on SQLite and more than the round trip's CPU on PostgreSQL."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from sqlalchemy import Executable

T = TypeVar("T")

Reads = Generator[tuple[Executable, dict[str, Any]], Any, T]
"""A use case's reads by key, written once for every connection that may run them: it
yields each statement with its parameters and is sent the statement's first row (None when
there is none); what it returns is the answer. `LiteConnection.read` runs it on SQLite,
`LoopConnection.read` on the event loop's PostgreSQL connections, each statement a read of
its own (no transaction spans two)."""


class Statement:
    """A Core statement compiled once by `dialect`: its SQL, its fixed parameters (the
    literals in its conditions), and SQLAlchemy's conversions of its parameters (named, or
    in order for a positional driver: sqlite3's qmark) and of its result columns."""

    def __init__(self, statement: Any, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.post_compile_params or compiled.escaped_bind_names:
            raise ValueError("an expanding or escaped parameter cannot be prebuilt")
        self.sql: str = str(compiled)
        self.order: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positional else None
        )
        self.fixed: dict[str, Any] = {}
        converts: dict[str, Callable[[Any], Any]] = {}  # once a name, used however often
        for bind, name in compiled.bind_names.items():
            if not bind.required:
                self.fixed[name] = bind.effective_value
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if convert is not None:
                converts[name] = convert
        self.converts = list(converts.items())
        columns = list(getattr(statement, "selected_columns", ()))
        self.kind: Any = namedtuple("Row", [str(c.key) for c in columns], rename=True)  # type: ignore[misc]
        self.results: list[tuple[int, Callable[[Any], Any]]] = []
        for i, column in enumerate(columns):
            convert = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if convert is not None:
                self.results.append((i, convert))

    def parameters(self, given: dict[str, Any]) -> Any:
        """The driver's parameters: a dict, or a tuple in the SQL's order."""
        params = {**self.fixed, **given}
        for name, convert in self.converts:
            if name in params:
                params[name] = convert(params[name])
        if self.order is None:
            return params
        return tuple(params[name] for name in self.order)

    def row(self, values: Any) -> Any:
        """A row as SQLAlchemy's read: its columns as attributes, or by index."""
        if self.results:
            converted = list(values)
            for i, convert in self.results:
                converted[i] = convert(converted[i])
            return self.kind._make(converted)
        return self.kind._make(values)


class Prebuilt:
    """The statements of one dialect, each compiled on its first use."""

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect
        self._made: dict[int, tuple[Executable, Statement]] = {}

    def __call__(self, statement: Executable) -> Statement:
        entry = self._made.get(id(statement))
        if entry is None or entry[0] is not statement:
            entry = (statement, Statement(statement, self.dialect))
            self._made[id(statement)] = entry
        return entry[1]
