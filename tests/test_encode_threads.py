"""``Event.encode`` packs with one msgpack packer per thread: events encoded on several threads at once are each
the canonical encoding of their own fields (provchain.encoding.encode), never another thread's bytes."""

from __future__ import annotations

import threading

from provchain import encoding
from provchain.entries import Event


def _event(t: int, n: int) -> Event:
    prev = bytes([t]) * 32 if n % 2 else None
    place = "Hangzhou" if n % 3 else None
    data = {"n": n, "t": f"thread {t}"}
    return Event("example.com/l", 1_760_000_000_000 + n, b"\x00\x01\x02\x03", f"T{t}-ITEM-{n}", "origin", "FR",
                 prev, place, data)  # fmt: skip


def test_threads_encode_their_own_events() -> None:
    wrong: list[tuple[int, int]] = []
    start = threading.Barrier(4)

    def work(t: int) -> None:
        start.wait()
        for n in range(3000):
            ev = _event(t, n)
            if ev.encode() != encoding.encode(ev.to_map()):
                wrong.append((t, n))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert wrong == []
