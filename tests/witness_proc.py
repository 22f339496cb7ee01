"""Real witness processes for the tests: ``provchain witness serve`` started as a subprocess on 127.0.0.1
with a port the kernel picks (read back from its first lines), killed with SIGKILL or stopped with SIGTERM."""

from __future__ import annotations

import http.client
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from provchain.keys import KeyPair
from provchain.witness import WitnessKey

START_TIMEOUT = 60.0  # a generous bound on a shared machine: not a timing assertion


def witness_key(tmp: Path, name: str, seed: int) -> WitnessKey:
    """A deterministic witness key, saved to ``tmp/<seed>.wkey`` (once)."""
    key = WitnessKey(KeyPair.from_seed(name, bytes([seed]) * 32))
    path = tmp / f"{seed}.wkey"
    if not path.exists():
        key.save(path)
    return key


class WitnessProc:
    """One witness server process over a state file; restartable on the same port."""

    def __init__(
        self, tmp: Path, name: str, seed: int, logs: list[str], *, timeout: float = 10.0, extra: tuple[str, ...] = ()
    ) -> None:
        self.extra = extra
        self.key = witness_key(tmp, name, seed)
        self.key_path = tmp / f"{seed}.wkey"
        self.state = tmp / f"{seed}.state"
        self.logs = logs
        self.timeout = timeout
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = tmp / f"{seed}.stderr"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def arg(self) -> str:
        """The ``--witness URL=VKEY`` value."""
        return f"{self.url}={self.key.vkey}"

    def start(self) -> WitnessProc:
        args = [
            sys.executable, "-c", "from provchain.cli import main; main()", "witness", "serve",
            "--key", str(self.key_path), "--state", str(self.state), "--listen", f"127.0.0.1:{self.port}",
            "--timeout", str(self.timeout), *self.extra,
        ]
        for log in self.logs:
            args += ["--log", log]
        env = {k: v for k, v in os.environ.items() if k != "PROVCHAIN_PASSPHRASE"}
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=env)
        lines: queue.Queue[bytes] = queue.Queue()
        out = self.proc.stdout
        assert out is not None

        def pump() -> None:
            for line in out:
                lines.put(line)
            lines.put(b"")

        threading.Thread(target=pump, daemon=True).start()
        first = lines.get(timeout=START_TIMEOUT).decode()
        second = lines.get(timeout=START_TIMEOUT).decode()
        assert first == f"witness {self.key.vkey}\n", (first, self.stderr_path.read_text())
        assert second.startswith("listening on http://127.0.0.1:"), (second, self.stderr_path.read_text())
        self.port = int(second.rsplit(":", 1)[1])
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait()
            self.proc = None

    def post(self, body: bytes, path: str = "/add-checkpoint") -> tuple[int, str, bytes]:
        """POST ``body``; returns status, content type and reply body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", path, body=body)
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type") or "", resp.read()
        finally:
            conn.close()
