"""No secret in any log: a central and a district nocd at DEBUG, known secrets, every path.

Real processes (``nocd run``) with ``log_level = DEBUG``; the district polls a real Net-SNMP
snmpd over v2c (community) and v3 authPriv (USM auth and privacy keys), plus a device with a
wrong community and one with a wrong privacy key (error paths), and pushes to central with
its district token. Central (on PostgreSQL with a password in the URL when a server is
configured) gets API calls with good, wrong and forbidden tokens, a webhook subscription whose
receiver first fails then accepts (its HMAC signature checked here independently), an
ingest with a wrong token, and a CLI command whose database is down. Then every byte the
processes and commands wrote is searched for every secret and its obvious encodings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from nocd.inventory import import_text
from nocd.storage import poll_repo
from nocd.storage.db import make_engine, session_factory
from nocd.storage.models import DistrictStatus
from nocd.storage.tokens import TokenRole, create_token
from tests.conftest import POSTGRES_URL
from tests.fixtures.db import _Databases
from tests.fixtures.snmp_agents import SnmpdAgent

pytestmark = [pytest.mark.integration, pytest.mark.snmp]

NOCD = [sys.executable, "-c", "from nocd.cli import main; main()"]
DEADLINE_S = 90.0  # process start on a loaded 2-core machine included
WEBHOOK_SECRET = "whsec-Zq7-never-in-a-log"
WRONG_COMMUNITY = "wrong-community-Kx93"
WRONG_PRIV_KEY = "wrong-priv-key-Pm42x"
DB_PASSWORD = "db-pass-Vv81-secret"
PRESENTED_BAD_TOKEN = "nocd_presentedButNeverIssued0123456789abcdefXYZ"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)  # re-check interval, not synchronisation: the condition decides


class Receiver:
    """A webhook receiver: 500 to the first delivery, 200 after; keeps every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(500 if len(receiver.requests) == 1 else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class Proc:
    """One ``nocd run`` with stdout and stderr captured to files."""

    def __init__(self, role: str, tmp: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.out, self.err = tmp / f"{role}.out", tmp / f"{role}.err"
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("NOCD_")}
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [*NOCD, "run", "--role", role],
                env={**base_env, "NOCD_API__PORT": str(self.port), **env},
                stdout=out,
                stderr=err,
            )

    def healthy(self) -> bool:
        assert self.process.poll() is None, self.err.read_text(errors="replace")[-3000:]
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _retrying(call: Callable[[], httpx.Response]) -> httpx.Response:
    """``call`` again while central answers 503 (its SQLite is busy on a loaded machine)."""
    deadline = time.monotonic() + DEADLINE_S
    while (response := call()).status_code == 503 and time.monotonic() < deadline:
        time.sleep(float(response.headers.get("Retry-After", "1")))
    return response


def _encodings(secret: str) -> set[str]:
    raw = secret.encode()
    return {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        raw.hex().upper(),
        raw.hex(" "),
        raw.hex(":"),
        repr(raw)[2:-1],
    }


@pytest.fixture
def central_url(tmp_path: Path) -> Iterator[str]:
    """Central's database: PostgreSQL with a password in its URL when a server is configured."""
    databases = _Databases("postgresql" if POSTGRES_URL else "sqlite", tmp_path)
    try:
        url = databases(True)
        if POSTGRES_URL:  # the test server trusts loopback: any password is accepted
            url = make_url(url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
        yield url
    finally:
        databases.close()


def test_no_secret_reaches_any_log_at_debug_level(
    snmpd_agent: SnmpdAgent, central_url: str, tmp_path: Path
) -> None:
    user = snmpd_agent.user("nocd-sha-aes")
    # another user for the wrong key: one agent (one engine id) has one key per user name
    other = snmpd_agent.user("nocd-md5-des")
    district_url = _Databases("sqlite", tmp_path)(True)
    inventory = f"""districts:
- {{id: d01, name: District one}}
devices:
- {{name: v2c-ok, district: d01, kind: access_switch, address: 127.0.0.1,
   port: {snmpd_agent.port}, snmp: {{version: 2c, community: {snmpd_agent.community}}}}}
- {{name: v2c-wrong, district: d01, kind: access_switch, address: 127.0.0.1,
   port: {snmpd_agent.port}, snmp: {{version: 2c, community: {WRONG_COMMUNITY}}}}}
- {{name: v3-ok, district: d01, kind: access_switch, address: 127.0.0.1,
   port: {snmpd_agent.port}, snmp: {{version: 3, user: {user.name}, auth_protocol: sha,
   auth_key: {user.auth_key}, priv_protocol: aes, priv_key: {user.priv_key}}}}}
- {{name: v3-wrong, district: d01, kind: access_switch, address: 127.0.0.1,
   port: {snmpd_agent.port}, snmp: {{version: 3, user: {other.name}, auth_protocol: md5,
   auth_key: {other.auth_key}, priv_protocol: des, priv_key: {WRONG_PRIV_KEY}}}}}
"""
    for url in (central_url, district_url):
        engine = make_engine(url)
        with session_factory(engine)() as session:
            import_text(session, inventory, "inventory.yaml")
            session.commit()
        engine.dispose()
    engine = make_engine(central_url)
    with session_factory(engine)() as session:
        tokens = {
            "district": create_token(session, "d01", TokenRole.DISTRICT, district="d01"),
            "operator": create_token(session, "noc", TokenRole.OPERATOR),
            "viewer": create_token(session, "grafana", TokenRole.VIEWER),
        }
        session.commit()
    secrets = {
        "SNMP community": snmpd_agent.community,
        "wrong SNMP community": WRONG_COMMUNITY,
        "USM auth key": user.auth_key,
        "USM priv key": user.priv_key,
        "other USM auth key": other.auth_key,
        "wrong USM priv key": WRONG_PRIV_KEY,
        "webhook secret": WEBHOOK_SECRET,
        "presented bad token": PRESENTED_BAD_TOKEN,
        **{f"{name} token": token for name, token in tokens.items()},
    }
    if POSTGRES_URL:
        secrets["database password"] = DB_PASSWORD
    common = {"NOCD_DAEMON__LOG_LEVEL": "DEBUG", "NOCD_API__HOST": "127.0.0.1"}
    receiver = Receiver()
    central = Proc(
        "central",
        tmp_path,
        {
            **common,
            "NOCD_STORAGE__URL": central_url,
            "NOCD_TICKETS__WEBHOOK_INTERVAL_S": "0.3",
            "NOCD_TICKETS__WEBHOOK_RETRY_BASE_S": "0.5",
        },
    )
    district = Proc(
        "district",
        tmp_path,
        {
            **common,
            "NOCD_STORAGE__URL": district_url,
            "NOCD_DAEMON__DISTRICT": "d01",
            "NOCD_CENTRAL__URL": central.base,
            "NOCD_CENTRAL__TOKEN": tokens["district"],
            "NOCD_CENTRAL__FLUSH_INTERVAL_S": "0.2",
            "NOCD_POLL__INTERFACES_S": "1",
            "NOCD_POLL__TIMEOUT_S": "2",
            "NOCD_POLL__RETRIES": "0",
            "NOCD_POLL__DOWN_AFTER_S": "1",
            "NOCD_POLL__BACKOFF_MAX_S": "1",
        },
    )
    outputs: list[bytes] = []
    try:
        _wait(lambda: central.healthy() and district.healthy(), "both processes healthy")
        api = httpx.Client(base_url=f"{central.base}/api/v1", timeout=10)
        op = {"Authorization": f"Bearer {tokens['operator']}"}
        # reads, a redacted device, failing and forbidden authentication
        assert api.get("/devices/v3-ok", headers=op).json()["snmp"]["priv_key"] == "***"
        bad = {"Authorization": f"Bearer {PRESENTED_BAD_TOKEN}"}
        assert api.get("/devices", headers=bad).status_code == 401
        viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
        assert (
            api.post("/districts", json={"id": "x", "name": "x"}, headers=viewer).status_code == 403
        )
        district_read = {"Authorization": f"Bearer {tokens['district']}"}
        assert api.get("/devices", headers=district_read).status_code == 403
        wrong_ingest = {"district": "d01", "epoch": 1, "items": []}
        assert api.post("/ingest", json=wrong_ingest, headers=bad).status_code == 401
        # a webhook with a secret; a ticket event fails once, then is delivered
        subscription = _retrying(
            lambda: api.post(
                "/webhooks",
                json={
                    "name": "dispatch",
                    "url": receiver.url,
                    "secret": WEBHOOK_SECRET,
                    "events": [],
                },
                headers=op,
            )
        )
        assert subscription.status_code == 201, subscription.text
        assert WEBHOOK_SECRET not in subscription.text
        ticket = _retrying(
            lambda: api.post(
                "/tickets",
                json={"district": "d01", "title": "no sync", "priority": "P3"},
                headers=op,
            )
        )
        assert ticket.status_code == 201, ticket.text
        _wait(lambda: len(receiver.requests) >= 2, "a failed then a delivered webhook")
        for headers, body in receiver.requests:
            expected = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert headers["X-Nocd-Signature"] == f"sha256={expected}"

        # the district polled every device and pushed to central
        def polled() -> bool:
            dengine = make_engine(district_url)
            try:
                with session_factory(dengine)() as session:
                    states = {s.device: s for s in poll_repo.device_statuses(session)}
            finally:
                dengine.dispose()
            return {name: s.state for name, s in states.items()} == {
                "v2c-ok": "up",
                "v3-ok": "up",
                "v2c-wrong": "down",
                "v3-wrong": "down",
            }

        _wait(polled, "the right credentials up, the wrong ones down")

        def pushed() -> bool:
            with session_factory(engine)() as session:
                status = session.get(DistrictStatus, "d01")
                return status is not None and (status.last_seq or 0) > 0

        _wait(pushed, "the district's batches at central")
        # a command whose database is down names the database, never its password
        down = subprocess.run(
            [*NOCD, "inventory", "export"],
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("NOCD_")},
                "NOCD_STORAGE__URL": f"postgresql+psycopg://nocd:{DB_PASSWORD}@127.0.0.1:1/nocd",
                "NOCD_DAEMON__LOG_LEVEL": "DEBUG",
            },
            capture_output=True,
            timeout=120,
        )
        assert down.returncode == 1, down.stderr
        outputs += [down.stdout, down.stderr]
        secrets["database password"] = DB_PASSWORD
    finally:
        district.stop()
        central.stop()
        receiver.close()
        engine.dispose()
    logs = {path.name: path.read_bytes() for path in tmp_path.glob("*.out")}
    logs |= {path.name: path.read_bytes() for path in tmp_path.glob("*.err")}
    logs |= {f"cli output {i}": data for i, data in enumerate(outputs)}
    assert sum(len(data) for data in logs.values()) > 10_000, "DEBUG logs were written"
    assert b"DEBUG" in logs["district.err"] + logs["district.out"]
    leaks = [
        f"{what} ({encoded!r}) in {name}"
        for what, secret in secrets.items()
        for encoded in _encodings(secret)
        for name, data in logs.items()
        if encoded.encode() in data
    ]
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_database_errors_do_not_carry_row_values(backend: str, tmp_path: Path) -> None:
    """A failed statement's message (logged, or in a 503's debug line) omits its parameters."""
    if backend == "postgresql" and not POSTGRES_URL:
        pytest.skip("PostgreSQL (TEST_POSTGRES_URL) not available")
    url = f"sqlite:///{tmp_path / 'x.db'}" if backend == "sqlite" else POSTGRES_URL
    engine = make_engine(url)
    try:
        with engine.connect() as conn, pytest.raises(DBAPIError) as caught:
            conn.execute(
                text("SELECT :community FROM no_such_table"), {"community": WRONG_COMMUNITY}
            )
    finally:
        engine.dispose()
    assert "no_such_table" in str(caught.value)
    assert WRONG_COMMUNITY not in str(caught.value)
