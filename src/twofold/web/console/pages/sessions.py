"""The signed-in principal's sessions: list, end one, end every other (after step-up)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from twofold.services.security import SessionManagement
from twofold.services.sessions import Auth
from twofold.web.console import security as sec
from twofold.web.console.auth import Csrf, Ctx, Page, fresh_page
from twofold.web.console.render import redirect, render
from twofold.web.routing import EndingRoute

router = APIRouter(include_in_schema=False, route_class=EndingRoute)

NOTICES = {
    "session-ended": "The session was ended. Remembered browsers must enter a code again.",
    "sessions-ended": "Every other session was ended. Remembered browsers must enter a "
    "code again.",
}
PURPOSES = {"sessions.end_others": "end your other sessions"}

# The button is on /sessions: a stale session verifies and comes back there.
EndOthersPage = Annotated[Auth, Depends(fresh_page("sessions.end_others", back="/sessions"))]


@router.get("/sessions")
def sessions_page(request: Request, auth: Page, ctx: Ctx) -> Response:
    """The signed-in principal's sessions, newest first."""
    sessions = SessionManagement(ctx).views(auth)
    return render(request, "preferences/sessions.html", sessions=sessions)


@router.post("/sessions/{session_id}/end", dependencies=[Csrf])
def session_end(request: Request, session_id: str, auth: Page, ctx: Ctx) -> Response:
    """End one session; ending this one signs out."""
    SessionManagement(ctx).revoke(auth, session_id[:64])
    if session_id == auth.session.public_id:
        response = redirect("/login?done=signed-out")
        sec.clear_cookie(request, response, sec.SESSION)
        return response
    return redirect("/sessions?done=session-ended")


@router.post("/sessions/end-others", dependencies=[Csrf])
def sessions_end_others(request: Request, auth: EndOthersPage, ctx: Ctx) -> Response:
    """End every session but this one (on a freshly verified session)."""
    SessionManagement(ctx).revoke_others(auth)
    return redirect("/sessions?done=sessions-ended")
