"""What a serving process does not load until it is first needed (issue 16, memory): the
password-strength dictionaries (zxcvbn), the QR code maker (segno), py_webauthn with its
ASN.1/CBOR/OpenSSL helpers, together about 25 MiB resident per worker, and the OpenID
Connect provider's Authlib and joserfc (about 3.5 MiB more). On SQLite, the PostgreSQL driver
(psycopg, about 9 MiB) is not loaded at all."""

from __future__ import annotations

import json
import subprocess
import sys

from webauthn.helpers.structs import AuthenticatorTransport

from twofold.services import security_keys

LAZY = ("zxcvbn", "segno", "webauthn", "cbor2", "asn1crypto", "OpenSSL", "authlib", "joserfc")
POSTGRESQL_ONLY = ("psycopg", "psycopg_binary", "psycopg_pool")

_PROBE = """
import json, os, sys
os.environ["TWOFOLD_DATABASE_URL"] = "sqlite:///" + sys.argv[1]
os.environ["TWOFOLD_KEY_FILE"] = sys.argv[2]
from twofold.config import Settings
from twofold.web.app import create_app
create_app(Settings())
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_a_new_app_holds_none_of_the_first_use_libraries(tmp_path: object) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, f"{tmp_path}/t.db", f"{tmp_path}/k"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "fastapi" in loaded and "twofold" in loaded  # the probe saw a real app
    assert loaded.isdisjoint(LAZY), sorted(loaded & set(LAZY))
    # the probe's app is a SQLite one
    assert loaded.isdisjoint(POSTGRESQL_ONLY), sorted(loaded & set(POSTGRESQL_ONLY))


def test_the_transports_a_key_may_declare_are_py_webauthns() -> None:
    assert {t.value for t in AuthenticatorTransport} == security_keys._TRANSPORTS
