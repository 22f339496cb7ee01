"""``Frontier.add_run`` (the tree side of ``Ledger.append_many``): the leaves of a run added in one call give,
leaf for leaf, the nodes that :meth:`Frontier.add` gives one at a time, from a fresh frontier at any index
(its missing left siblings fetched from the reference tree) and from a frontier that grew leaf by leaf; and it
refuses what ``add`` refuses."""

from __future__ import annotations

import merkle_reference as ref
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provchain import merkle
from provchain.errors import InputError
from provchain.tree import Frontier


def _data(n: int, seed: int) -> list[bytes]:
    return [f"run {seed} {i}".encode() for i in range(n)]


@settings(deadline=None, max_examples=80)
@given(st.integers(0, 200), st.integers(0, 70), st.integers(0, 3), st.booleans())
def test_a_run_gives_what_add_gives_leaf_by_leaf(first: int, count: int, seed: int, fresh: bool) -> None:
    data = _data(first + count, seed)
    leaves = [merkle.leaf_hash(d) for d in data]

    def fetch(keys: object) -> dict[tuple[int, int], bytes]:
        assert isinstance(keys, list)
        return {(lv, j): ref.mth(data[j << lv : (j + 1) << lv]) for lv, j in keys}

    one, run = Frontier(), Frontier()
    if not fresh:  # both grown leaf by leaf up to ``first``
        for h in leaves[:first]:
            one.append(h)
            run.append(h)
    want = [one.add(i, leaves[i], fetch) for i in range(first, first + count)]
    assert run.add_run(first, leaves[first:], fetch) == want
    assert run.size == one.size
    if not fresh:  # a fresh frontier holds only what the run's leaves needed, not every node of the root
        assert run.root() == one.root() == ref.mth(data)


@pytest.mark.parametrize("leaf", [b"x" * 31, "x" * 32, None, bytearray(32)])
def test_a_run_refuses_a_leaf_that_is_no_hash(leaf: object) -> None:
    tree = Frontier()
    good = merkle.leaf_hash(b"a")
    with pytest.raises(InputError):
        tree.add_run(0, [good, leaf])  # type: ignore[list-item]
    assert tree.size == 1  # the leaves before the one refused stay added
    with pytest.raises(InputError):
        Frontier().add_run(-1, [good])
    with pytest.raises(InputError, match="lacks node"):
        Frontier().add_run(3, [good])  # a fresh frontier without fetch lacks leaf 3's left siblings
