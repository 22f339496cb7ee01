"""Shared fixtures: real keys, real SQLite ledgers in temporary folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from provchain.keys import KeyPair
from provchain.ledger import Ledger

if TYPE_CHECKING:
    from pgserver import CuttingProxy, PgServer

# No timing assertions: hypothesis' per-example deadline and its too-slow health check both judge the
# speed of a shared, noisy machine, so they are off for every test (budgets are set per test).
settings.register_profile("provchain", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("provchain")

ORIGIN = "example.com/acme-ledger"
T0 = 1_760_000_000_000  # 2025-10-09T08:53:20Z, a fixed start for deterministic journeys
HOUR = 3_600_000


class Clock:
    """A controllable clock in milliseconds."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def operator() -> KeyPair:
    return KeyPair.from_seed(ORIGIN, bytes(range(32)))


@pytest.fixture
def parties() -> dict[str, KeyPair]:
    names = {
        "origin": "grasse-labs",
        "customs": "shanghai-customs-broker",
        "warehouse": "hz-bonded-wh-3",
        "appraiser": "cciq-inspection",
        "courier": "sf-express",
    }
    return {role: KeyPair.from_seed(name, bytes([i + 1]) * 32) for i, (role, name) in enumerate(names.items())}


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + 100 * HOUR)


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(ledger_path: Path, operator: KeyPair, parties: dict[str, KeyPair], clock: Clock) -> Iterator[Ledger]:
    led = Ledger.create(ledger_path, origin=ORIGIN, operator=operator, at=T0, clock=clock)
    for role, kp in parties.items():
        led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
    yield led
    led.close()


def published_origin_log(base: Path, entries: int) -> tuple[Path, str]:
    """A ledger of ``entries`` origin events (one maker, one item each), checkpointed and published to
    ``base/log`` (provchain publish); returns that directory and the operator's key."""
    from provchain.tlog import publish

    op = KeyPair.from_seed(ORIGIN, bytes(range(32)))
    maker = KeyPair.from_seed("grasse-labs", bytes([1]) * 32)
    with Ledger.create(base / "l.db", origin=ORIGIN, operator=op, at=T0, clock=Clock(T0 + 10**9)) as led:
        led.register_party(maker.name, ["origin"], maker.public_key, at=T0, valid_from=T0)
        with led.batch():
            for i in range(entries):
                led.append(f"SKU-{i}", "origin", maker, country="FR", at=T0 + 1 + i)
        led.checkpoint()
        publish(led, base / "log")
    return base / "log", op.vkey


def journey(led: Ledger, parties: dict[str, KeyPair], item: str, start: int = T0 + HOUR) -> None:
    """Record the six-event cross-border journey of ``item``."""
    steps = [
        ("origin", "origin", "FR", "Grasse", {"batch": "B-2025-17"}),
        ("import", "customs", "CN", "Shanghai Yangshan port", {"declaration": "310120251234567"}),
        ("warehouse", "warehouse", "CN", "Hangzhou bonded zone WH3", {"bin": "A-07"}),
        ("warehouse", "warehouse", "CN", "Hangzhou bonded zone WH3", {"bin": "C-11"}),
        ("appraisal", "appraiser", "CN", "Hangzhou", {"certificate": "CCIQ-2025-0042", "verdict": "genuine"}),
        ("delivery", "courier", "CN", "Beijing", {"waybill": "SF1234567890"}),
    ]
    for n, (stage, role, country, place, data) in enumerate(steps):
        led.append(item, stage, parties[role], country=country, place=place, data=data, at=start + n * HOUR)


# --- PostgreSQL: a throwaway server (tests/pgserver.py), started only when a test asks for it -------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer]:
    """A PostgreSQL 15 server for the whole session: ``PROVCHAIN_TEST_POSTGRES`` names one, else one is started
    in a temporary directory (and stopped at the end). Without the server binaries the test skips, except in
    CI, where it fails: nothing may skip there (tests/test_ci_components.py)."""
    import os

    from pgserver import ENV_URL, binaries_present, server_from_env

    if not os.environ.get(ENV_URL) and not binaries_present():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL 15 server binaries are missing; .ci/deps installs postgresql-15")
        pytest.skip("PostgreSQL 15 server binaries are not installed (apt install postgresql-15)")
    server: PgServer = server_from_env()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PgServer) -> Iterator[str]:
    """The URL of a new, empty database on the session's server."""
    url = postgres_server.create_database()
    yield url
    if not postgres_server.restartable:  # a throwaway server's databases go with its directory
        postgres_server.drop_database(url)


def make_pg_ledger(
    url: str, operator: KeyPair, parties: dict[str, KeyPair], clock: Clock, *, journey_of: str | None = None
) -> str:
    """Create a ledger at ``url`` with every party registered (and the journey of ``journey_of``); return
    ``url``."""
    with Ledger.create(url, origin=ORIGIN, operator=operator, at=T0, clock=clock) as led:
        for role, kp in parties.items():
            led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
        if journey_of is not None:
            journey(led, parties, journey_of, start=T0 + HOUR)
    return url


@pytest.fixture
def proxy(postgres_server: PgServer) -> Iterator[CuttingProxy]:
    """A TCP relay to the session's server that tests can cut (tests/pgserver.py ``CuttingProxy``)."""
    from pgserver import CuttingProxy

    port = int(postgres_server.admin_url.rsplit(":", 1)[1].split("/", 1)[0])
    p = CuttingProxy(port)
    yield p
    p.close()


@pytest.fixture
def restartable_postgres(postgres_server: PgServer) -> PgServer:
    """The session's server, when the tests may crash and restart it (one they started themselves)."""
    import os

    if not postgres_server.restartable:
        if os.environ.get("CI") == "true":
            pytest.fail("in CI the tests restart the PostgreSQL server .ci/run started (PROVCHAIN_TEST_POSTGRES_DIR)")
        pytest.skip("PROVCHAIN_TEST_POSTGRES names a server the tests do not restart")
    return postgres_server
