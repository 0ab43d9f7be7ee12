"""The Python extractor of `pybabel extract` (babel.cfg names it): Babel's keyword calls
(`_`, `N_`, `gettext`, `ngettext`), plus what Twofold marks by its shape, so the catalogue
holds every sentence a person can read:

- an error's `default_message` (class attribute, alone or in a tuple assignment);
- the values of a console page module's `NOTICES` and `PURPOSES` (and of `TITLES`);
- in the console's modules, a literal `notice=`, `error=`, `invalid=` or `title=` handed to a
  page (render() looks these up in the catalogue);
- the first argument (or `message=`) of a call to an error class of `twofold.domain.errors`,
  or of an error's `.after(reason, seconds)`, and the literal problems of its `fields={...}`
  (and of a `problems[...] = "..."` table), which the console shows beside a form's fields.

Only string literals are taken; an f-string is not a msgid (use `{name}` and `params=`).
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from typing import IO, Any

from twofold.domain import errors

KEYWORDS = {"_", "N_", "gettext", "Problem"}
PLURAL = {"ngettext"}
ERROR_CLASSES = {
    name
    for name, obj in vars(errors).items()
    if inspect.isclass(obj) and issubclass(obj, errors.TwofoldError)
} | {"after"}

# (line, keyword, msgid or (singular, plural), comments): the keyword is Babel's own name,
# which tells it how to read the message.
Found = tuple[int, str, Any, list[str]]
TABLES = {"NOTICES", "PURPOSES", "TITLES"}
SENTENCE_ARGS = {"notice", "error", "invalid", "title"}


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _text(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _from_call(node: ast.Call, console: bool) -> Iterator[Found]:
    name = _name(node.func)
    if name in KEYWORDS and node.args and (text := _text(node.args[0])):
        yield node.lineno, "gettext", text, []
    elif name in PLURAL and len(node.args) >= 2:
        singular, plural = _text(node.args[0]), _text(node.args[1])
        if singular and plural:
            yield node.lineno, "ngettext", (singular, plural), []
    for keyword in node.keywords if console else ():
        if keyword.arg in SENTENCE_ARGS and (text := _text(keyword.value)):
            yield keyword.value.lineno, "gettext", text, []
    if name in ERROR_CLASSES:
        first = node.args[0] if node.args else None
        message = next((k.value for k in node.keywords if k.arg == "message"), first)
        if text := _text(message):
            yield node.lineno, "gettext", text, []
        fields = next((k.value for k in node.keywords if k.arg == "fields"), None)
        if isinstance(fields, ast.Dict):
            for value in fields.values:
                if text := _text(value):
                    yield value.lineno, "gettext", text, []


def _from_assign(node: ast.Assign) -> Iterator[Found]:
    for target in node.targets:
        if (
            isinstance(target, ast.Subscript)
            and isinstance(target.value, ast.Name)
            and target.value.id == "problems"
            and (text := _text(node.value))
        ):
            yield node.lineno, "gettext", text, []
        if (
            isinstance(target, ast.Name)
            and target.id in TABLES
            and isinstance(node.value, ast.Dict)
        ):
            for value in node.value.values:
                if text := _text(value):
                    yield value.lineno, "gettext", text, []
        if isinstance(target, ast.Name) and target.id == "default_message":
            if text := _text(node.value):
                yield node.lineno, "gettext", text, []
        elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
            for t, v in zip(target.elts, node.value.elts, strict=False):
                if isinstance(t, ast.Name) and t.id == "default_message" and (text := _text(v)):
                    yield v.lineno, "gettext", text, []


def extract_twofold(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[Found]:
    """Babel's extraction-method signature."""
    console = "web/console/" in str(getattr(fileobj, "name", "")).replace("\\", "/")
    tree = ast.parse(fileobj.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield from _from_call(node, console)
        elif isinstance(node, ast.Assign):
            yield from _from_assign(node)
