"""A throwaway PostgreSQL 15 server for the tests and the benchmarks (``bench/append.py --store postgresql``).

It runs Debian's server binaries (``/usr/lib/postgresql/15/bin``: initdb, pg_ctl, postgres) on a data
directory and a socket directory under a fresh temporary directory, listening on a free port of 127.0.0.1
only, with trust authentication for 127.0.0.1 and the private socket and nothing else. PostgreSQL refuses to
run as root, so when the tests run as root (CI does) every server command runs as the ``postgres`` user
(``runuser``), and the temporary directory is handed to that user. ``fsync`` stays on: the crash tests
count on real durability.

``PROVCHAIN_TEST_POSTGRES=postgresql://user@host:port/db`` names an existing server instead (its user must
be allowed to create databases); such a server cannot be restarted by the tests, unless
``PROVCHAIN_TEST_POSTGRES_DIR`` also names the directory this module started it in. That is how ``.ci/run``
runs the suite: ``python tests/pgserver.py start`` starts a throwaway server and prints its URL and
directory, the tests use it (and crash and restart it), and ``python tests/pgserver.py stop DIR`` stops it and
removes the directory.

One role, :data:`PASSWORD_ROLE`, must log in over TCP with its password (SCRAM): the tests of a wrong
password use it. :class:`CuttingProxy` relays a TCP connection to the server and cuts it at a chosen message:
a real lost connection at a chosen moment of a transaction.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

BIN = Path(os.environ.get("PROVCHAIN_PG_BIN", "/usr/lib/postgresql/15/bin"))
ENV_URL = "PROVCHAIN_TEST_POSTGRES"
ENV_DIR = "PROVCHAIN_TEST_POSTGRES_DIR"
PASSWORD_ROLE = "provchain_pw"
"""A role that pg_hba.conf makes log in over TCP with its password (SCRAM), not trusted like the others."""


def binaries_present() -> bool:
    """Whether the PostgreSQL server binaries are installed."""
    return all((BIN / name).exists() for name in ("initdb", "pg_ctl", "postgres"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One PostgreSQL server: started here (``start``), or an existing one named by a URL (``external``)."""

    def __init__(self, admin_url: str, *, base: Path | None = None, port: int = 0, owned: bool = True) -> None:
        self.admin_url = admin_url  # a URL of the maintenance database, as a user who may create databases
        self.base = base  # None for an external server
        self.port = port
        self.owned = owned  # stopped (and its directory removed) by whoever holds this object

    # --- starting and stopping -----------------------------------------------------------------

    @classmethod
    def start(cls) -> PgServer:
        """initdb and start a server in a new temporary directory; raises RuntimeError with the server's
        log when it does not come up."""
        if not binaries_present():
            raise RuntimeError(f"PostgreSQL 15 server binaries are not installed in {BIN} (apt install postgresql-15)")
        base = Path(tempfile.mkdtemp(prefix="provchain-pg-"))
        server = cls("", base=base)
        try:
            if os.geteuid() == 0:
                shutil.chown(base, "postgres", "postgres")
            os.chmod(base, 0o700)
            server._run(
                [str(BIN / "initdb"), "-D", str(server.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                 "--locale=C", "--no-sync"]
            )  # fmt: skip
            (server.data / "pg_hba.conf").write_text(
                "# provchain tests: the private socket directory and 127.0.0.1 only, no password but for one role\n"
                f"local all all trust\nhost all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
                "host all all 127.0.0.1/32 trust\n"
            )
            for attempt in range(5):
                server.port = _free_port()
                (server.data / "postgresql.auto.conf").write_text(
                    f"listen_addresses = '127.0.0.1'\nport = {server.port}\n"
                    f"unix_socket_directories = '{base}'\nfsync = on\nsynchronous_commit = on\n"
                    "max_connections = 60\nshared_buffers = 32MB\nmax_wal_size = 256MB\n"
                )
                if server._pg_ctl("start", check=False).returncode == 0:
                    break
                if attempt == 4:
                    raise RuntimeError(f"PostgreSQL did not start:\n{server.log_tail()}")
            server.admin_url = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        except BaseException:
            server.stop()
            raise
        return server

    @classmethod
    def external(cls, url: str) -> PgServer:
        """An existing server, named by the URL of a database its user may create databases from."""
        return cls(url)

    @property
    def restartable(self) -> bool:
        """Whether the tests may crash and restart this server (only one they started)."""
        return self.base is not None

    @property
    def data(self) -> Path:
        assert self.base is not None
        return self.base / "data"

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self._as_owner(argv), capture_output=True, text=True, timeout=120)
        if check and proc.returncode:
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.base is not None
        return self._run(
            [str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "server.log"), "-w", "-t", "60", *args],
            check=check,
        )

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log (for failure messages)."""
        if self.base is None:
            return ""
        try:
            return "\n".join((self.base / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def restart_immediate(self) -> None:
        """Crash the server (``pg_ctl restart -m immediate``: no shutdown checkpoint, every backend killed,
        crash recovery from the WAL at start) and wait until it accepts connections again."""
        if not self.restartable:
            raise RuntimeError("an external server (PROVCHAIN_TEST_POSTGRES) is not restarted by the tests")
        self._pg_ctl("restart", "-m", "immediate")

    def stop(self) -> None:
        """Stop the server (fast) and remove its directory. An external server, or one started by another
        process (``.ci/run``), is left alone."""
        if self.base is None or not self.owned:
            return
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "fast", check=False)
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None

    # --- databases -----------------------------------------------------------------------------

    def url(self, dbname: str) -> str:
        """The URL of database ``dbname`` on this server, as the admin user."""
        head, _, _ = self.admin_url.partition("?")
        prefix = head.rsplit("/", 1)[0] if head.count("/") > 2 else head
        query = self.admin_url[len(head) :]
        return f"{prefix}/{dbname}{query}"

    def create_database(self, prefix: str = "t") -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=30) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database`, disconnecting whoever still uses it."""
        import psycopg

        name = url.partition("?")[0].rsplit("/", 1)[1]
        with contextlib.suppress(psycopg.Error), psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def password_role(self, password: str) -> str:
        """Create (or reset) :data:`PASSWORD_ROLE`, a plain role (no superuser) with ``password``, and a new
        database it owns; returns that database's URL as the role, without the password."""
        import psycopg

        name = f"pw_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=30) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_ROLE,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(f"{verb} ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{password}'")
            conn.execute(f'CREATE DATABASE "{name}" OWNER {PASSWORD_ROLE}')
        scheme, _, rest = self.url(name).partition("://")
        return f"{scheme}://{PASSWORD_ROLE}@{rest.partition('@')[2]}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the server accepts connections (after a restart by another process)."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_url, connect_timeout=5):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


class CuttingProxy:
    """A TCP relay on 127.0.0.1 to ``port`` that can cut one connection at a chosen message.

    :meth:`arm` names bytes (such as ``b"COMMIT\\x00"``, the text of a COMMIT statement in an extended-protocol
    message) and a moment: ``"before"`` closes the connection instead of passing on the data that holds them
    (the server never sees the statement); ``"after"`` passes the data on, holds back every answer, waits
    until the server has acted on it, then closes (the client never learns the outcome). Once cut, it is
    disarmed; other connections pass through untouched.
    """

    def __init__(self, port: int) -> None:
        self._target = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._trigger: tuple[bytes, str] | None = None
        self._refuse = 0.0
        self._refuse_until = 0.0
        self.refused = 0
        self._lock = threading.Lock()
        self.cuts = 0
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, url: str) -> str:
        """``url`` (a URL on this server) through the proxy."""
        return url.replace(f":{self._target}/", f":{self.port}/", 1)

    def arm(self, marker: bytes, when: str, *, then_refuse: float = 0.0) -> None:
        """Cut the next connection data holding ``marker``; then refuse new connections for ``then_refuse``
        seconds (a server that is restarting)."""
        assert when in ("before", "after")
        with self._lock:
            self._trigger = (marker, when)
            self._refuse = then_refuse

    def close(self) -> None:
        self._listener.close()
        for s in self._open:
            with contextlib.suppress(OSError):
                s.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._refuse_until:
                self.refused += 1
                client.close()
                continue
            server = socket.create_connection(("127.0.0.1", self._target))
            self._open += [client, server]
            held = threading.Event()  # set once cut: the server's answers are no longer passed on
            threading.Thread(target=self._up, args=(client, server, held), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, held), daemon=True).start()

    def _take(self, data: bytes) -> str | None:
        with self._lock:
            if self._trigger is not None and self._trigger[0] in data:
                when = self._trigger[1]
                self._trigger = None
                self.cuts += 1
                self._refuse_until = time.monotonic() + (1.0 if when == "after" else 0.0) + self._refuse
                return when
        return None

    def _up(self, client: socket.socket, server: socket.socket, held: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                when = self._take(data)
                if when is not None:
                    held.set()
                    if when == "after":
                        server.sendall(data)
                        time.sleep(1.0)  # the server acts on it (and answers into the void)
                    break
                server.sendall(data)
        for s in (client, server):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _down(self, server: socket.socket, client: socket.socket, held: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if held.is_set():
                    continue
                client.sendall(data)


def server_from_env() -> PgServer:
    """The server ``PROVCHAIN_TEST_POSTGRES`` names (restartable when ``PROVCHAIN_TEST_POSTGRES_DIR`` names the
    directory this module started it in), or a new throwaway one."""
    url = os.environ.get(ENV_URL)
    if not url:
        return PgServer.start()
    directory = os.environ.get(ENV_DIR)
    if directory:
        return PgServer(url, base=Path(directory), owned=False)
    return PgServer.external(url)


def main(argv: list[str]) -> int:
    """``start``: start a throwaway server, print ``URL DIRECTORY``; ``stop DIRECTORY``: stop it, remove it."""
    if argv[:1] == ["start"] and len(argv) == 1:
        server = PgServer.start()
        print(server.admin_url, server.base)
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        PgServer("", base=Path(argv[1])).stop()
        return 0
    print("usage: pgserver.py start | stop DIRECTORY", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
