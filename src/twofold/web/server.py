"""The serving process of `twofold serve`: uvicorn in an interpreter of its own.

The command execs this module once its checks are done, so the command line's machinery
(Typer, Rich, the CLI's imports) is not resident beside the app in a process that serves for
weeks: some 10 MiB a process. The options come as one JSON argument."""

from __future__ import annotations

import json
import sys

import uvicorn


def main(argv: list[str]) -> None:
    options = json.loads(argv[1])
    uvicorn.run("twofold.web.asgi:app", **options)


if __name__ == "__main__":
    main(sys.argv)
