"""The phone of the signed-in principal, and identity verification by SMS (API.md "Phone")."""

from __future__ import annotations

from fastapi import APIRouter, Response

from twofold.services.phones import Phones
from twofold.web.api import schemas as s
from twofold.web.api.deps import Ctx, CurrentAuth, FreshAuth
from twofold.web.routing import EndingRoute

_ERR = {"model": s.ErrorOut}
router = APIRouter(
    route_class=EndingRoute,
    responses={code: _ERR for code in (400, 401, 403, 404, 429, 503)},
)


@router.get("/me/phone", response_model=s.PhoneOut, tags=["me"])
def my_phone(auth: CurrentAuth, ctx: Ctx) -> s.PhoneOut:
    """The verified phone (masked), and a new number waiting for its code."""
    return s.PhoneOut.model_validate(Phones(ctx).view(auth.principal))


@router.put("/me/phone", status_code=202, response_model=s.PhoneSentOut, tags=["me"])
def set_my_phone(body: s.PhoneIn, auth: FreshAuth, ctx: Ctx) -> s.PhoneSentOut:
    """Add or change the phone (E.164, e.g. +8613800138000): a 6-digit code is sent to it
    by SMS; the number is the principal's once `POST /me/phone/verify` returns the code.
    A current number stays until then."""
    return s.PhoneSentOut(sent_to=Phones(ctx).start_change(auth, body.phone))


@router.post("/me/phone/verify", response_model=s.PhoneOut, tags=["me"])
def verify_my_phone(body: s.PhoneCodeIn, auth: CurrentAuth, ctx: Ctx) -> s.PhoneOut:
    """Confirm the new number with the code sent to it."""
    return s.PhoneOut.model_validate(Phones(ctx).confirm(auth, body.code))


@router.delete("/me/phone", status_code=204, tags=["me"])
def remove_my_phone(auth: FreshAuth, ctx: Ctx) -> Response:
    """Remove the phone (and any number waiting for its code)."""
    Phones(ctx).remove(auth)
    return Response(status_code=204)


@router.post("/verify/sms", status_code=202, response_class=Response, tags=["verification"])
def verify_sms(auth: CurrentAuth, ctx: Ctx) -> Response:
    """Send a 6-digit code (10 minutes, single use) to the verified phone, for
    `POST /verify` with method sms."""
    Phones(ctx).send_verify_code(auth)
    return Response(status_code=202)
