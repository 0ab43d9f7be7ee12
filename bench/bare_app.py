"""A bare sync FastAPI endpoint (no database, no dependencies), the ceiling forward-auth is
compared with: `uvicorn bench.bare_app:app`."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/bare")
def bare() -> dict[str, bool]:
    return {"ok": True}
