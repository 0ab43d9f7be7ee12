"""Rules of applications (single sign-on clients): redirect URIs, origins, return targets.

Pure: no HTTP, no SQL."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

APP_TYPES = ("confidential", "public")
MAX_URIS = 20
MAX_URI_LENGTH = 400


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_problem(uri: str, *, allow_http: bool) -> str | None:
    """Why `uri` cannot be a redirect URI, or None when it can. Exact strings are stored and
    matched; a fragment is refused (RFC 6749 §3.1.2); `http` only for loopback hosts."""
    if not uri or len(uri) > MAX_URI_LENGTH or any(ord(c) < 33 for c in uri):
        return "must be an absolute URL without spaces, at most 400 characters"
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "must be an absolute http(s) URL"
    if parts.fragment or "#" in uri:
        return "must not have a fragment"
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials"
    if parts.scheme == "http" and not allow_http and not _loopback(host):
        return "must use https (http only for loopback hosts)"
    return None


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) URL, lower-cased, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    suffix = f":{port}" if port is not None and port != default else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{suffix}"


def safe_return_url(url: str, allowed_origins: set[str]) -> bool:
    """Whether an absolute return URL (forward-auth's `rd=`) may be followed: its origin must
    be one of the registered applications' redirect origins, and it must be a plain URL."""
    if len(url) > 2000 or any(ord(c) < 33 for c in url) or "\\" in url:
        return False
    origin = origin_of(url)
    if origin is None:
        return False
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return False
    return origin in allowed_origins
