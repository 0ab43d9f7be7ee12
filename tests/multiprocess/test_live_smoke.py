import httpx

from tests.live import live_servers
from tests.support import PASSWORD


def test_two_processes_share_one_database(db_url, tmp_path):
    with live_servers(db_url, tmp_path / "key", tmp_path / "logs", count=2) as (a, b):
        r = httpx.post(a.api + "/accounts",
                       json={"name": "acme", "email": "o@acme.example", "password": PASSWORD})
        assert r.status_code == 201, r.text
        r = httpx.post(b.api + "/login", json={"login": "acme", "password": PASSWORD})
        assert r.json()["state"] == "authenticated"
        token = r.json()["token"]
        assert httpx.post(a.api + "/logout",
                          headers={"Authorization": f"Bearer {token}"}).status_code == 204
        me = httpx.get(b.api + "/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401
