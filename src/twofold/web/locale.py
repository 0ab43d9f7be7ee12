"""Which language each request is answered in (ASGI middleware, for the API and the console).

The language cookie (set by the console's switch) wins over `Accept-Language`; a signed-in
principal's own preference, read by the console with its session, refines it later in the
same request (`i18n.use`). Every response says which it got (`Content-Language`).
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twofold import i18n

LANG = "twofold_lang"  # the cookie's base name (console security adds __Host- under https)


def _cookie_choice(header: bytes | None) -> str | None:
    if not header:
        return None
    try:
        jar = SimpleCookie(header.decode("latin-1"))
    except CookieError:
        return None
    for name in (f"__Host-{LANG}", LANG):
        if name in jar and (chosen := i18n.known(jar[name].value)):
            return chosen
    return None


def choose(headers: dict[bytes, bytes]) -> str:
    return _cookie_choice(headers.get(b"cookie")) or i18n.negotiate(
        headers.get(b"accept-language", b"").decode("latin-1")
    )


class LocaleMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        choice = i18n.begin(choose(dict(scope["headers"])))

        async def with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k != b"content-language"
                ]
                headers.append((b"content-language", i18n.html_lang(choice.locale).encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_language)
