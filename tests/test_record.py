"""``provchain._internal.record``: frozen dataclasses without generated code behave as frozen dataclasses.

Each check compares a record with the ``@dataclass(frozen=True)`` twin it replaces, or uses the records of
the package itself (a bundle, a checkpoint, an entry body).
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Mapping
from dataclasses import FrozenInstanceError, field

import pytest

from provchain._internal.bundle import Anchor, CodeCosignature, JourneyEvent
from provchain._internal.record import record
from provchain.checkpoint import Checkpoint
from provchain.entries import Event
from provchain.note import Ed25519Verifier


@record
class Row:
    """A record without slots."""

    name: str
    count: int = 0
    data: Mapping[str, int] = field(default_factory=dict)
    hidden: str = field(default="", repr=False, compare=False)

    def __init__(self, name: str, count: int = 0, data: Mapping[str, int] | None = None, hidden: str = "") -> None:
        fields = self.__dict__
        fields["name"] = name
        fields["count"] = count
        fields["data"] = {} if data is None else data
        fields["hidden"] = hidden


@dataclasses.dataclass(frozen=True)
class RowTwin:
    """The frozen dataclass ``Row`` stands for."""

    name: str
    count: int = 0
    data: Mapping[str, int] = field(default_factory=dict)
    hidden: str = field(default="", repr=False, compare=False)


@record(slots=True)
class Pair:
    """A record with slots, one field left out of equality and repr, as the verifiers' key ids are."""

    left: int
    right: bytes
    key: bytes = field(init=False, repr=False, compare=False)

    def __init__(self, left: int, right: bytes) -> None:
        object.__setattr__(self, "left", left)
        object.__setattr__(self, "right", right)
        object.__setattr__(self, "key", right[:1])


@record(slots=True)
class One:
    """A record of one field: its equality and hash still compare tuples."""

    only: int

    def __init__(self, only: int) -> None:
        object.__setattr__(self, "only", only)


def test_equality_hash_and_repr_are_a_frozen_dataclass_s() -> None:
    rows = [Row("a"), Row("a", 1), Row("b", 1, hidden="x"), Row("a", hidden="y")]
    twins = [RowTwin("a"), RowTwin("a", 1), RowTwin("b", 1, hidden="x"), RowTwin("a", hidden="y")]
    for r, t in zip(rows, twins, strict=True):
        assert repr(r) == repr(t).replace("RowTwin(", "Row(")
        for r2, t2 in zip(rows, twins, strict=True):
            assert (r == r2) is (t == t2)
    assert hash(Pair(1, b"xy")) == hash((1, b"xy"))
    assert hash(One(5)) == hash((5,)) and One(5) == One(5) and One(5) != One(6)
    assert Row("a", hidden="x") == Row("a", hidden="y")  # compare=False
    assert Row("a") != RowTwin("a") and Row("a") != ("a", 0, {})  # never equal to another class
    assert Row("a").__eq__(object()) is NotImplemented
    with pytest.raises(TypeError, match="unhashable"):
        hash(Row("a"))  # a dict field: unhashable, as the dataclass
    with pytest.raises(TypeError, match="unhashable"):
        hash(RowTwin("a"))
    assert repr(Pair(1, b"xy")) == "Pair(left=1, right=b'xy')"


def test_fields_are_frozen() -> None:
    for obj, name in ((Row("a"), "name"), (Pair(1, b"x"), "left"), (One(1), "only")):
        with pytest.raises(FrozenInstanceError, match=f"cannot assign to field '{name}'"):
            setattr(obj, name, 2)
        with pytest.raises(FrozenInstanceError, match=f"cannot delete field '{name}'"):
            delattr(obj, name)
        with pytest.raises(FrozenInstanceError):
            obj.other = 1  # type: ignore[attr-defined]  # no new attribute either, as a frozen dataclass
    bundle_anchor = Anchor(b"abcd", b"hint", 0, 1, bytes(32), 0)
    with pytest.raises(FrozenInstanceError):
        bundle_anchor.root = b""  # type: ignore[misc]


def test_the_dataclasses_functions_work_on_records() -> None:
    row = Row("a", 1, {"k": 1}, hidden="h")
    assert dataclasses.is_dataclass(Row) and dataclasses.is_dataclass(row)
    assert [f.name for f in dataclasses.fields(row)] == ["name", "count", "data", "hidden"]
    assert dataclasses.asdict(row) == {"name": "a", "count": 1, "data": {"k": 1}, "hidden": "h"}
    assert dataclasses.astuple(row) == ("a", 1, {"k": 1}, "h")
    assert dataclasses.replace(row, count=2) == Row("a", 2, {"k": 1})
    assert dataclasses.replace(Pair(1, b"xy"), right=b"zw").key == b"z"  # __init__ runs again
    with pytest.raises(ValueError, match="init=False"):
        dataclasses.replace(Pair(1, b"xy"), key=b"q")
    assert Row.__match_args__ == ("name", "count", "data", "hidden")
    assert Pair.__slots__ == ("left", "right", "key")
    assert not hasattr(Pair(1, b"x"), "__dict__")


def test_a_record_validates_in_its_own_init_under_replace_too() -> None:
    cp = Checkpoint("example.com/log", 2, bytes(32))
    assert dataclasses.replace(cp, size=3).size == 3
    with pytest.raises(Exception, match="checkpoint size"):
        dataclasses.replace(cp, size=-1)
    assert Checkpoint("example.com/log", 2, bytes(32), ["ext"]).extensions == ("ext",)  # a list becomes a tuple
    with pytest.raises(Exception, match="key name"):
        Ed25519Verifier("bad name", bytes(32))


@pytest.mark.parametrize(
    "obj",
    [
        Row("a", 1, {"k": 2}),
        Pair(1, b"xy"),
        One(3),
        CodeCosignature(b"abcd", 7, bytes(64)),
        Checkpoint("example.com/log", 2, bytes(32), ("ext",)),
        JourneyEvent(1, 0, "origin", "FR", data={"batch": "B"}),
        Event("example.com/log", 1, b"abcd", "ITEM-1", "origin", "FR", data={"batch": "B"}),
    ],
    ids=lambda o: type(o).__name__,
)
def test_records_pickle_and_copy(obj: object) -> None:
    for again in (pickle.loads(pickle.dumps(obj)), copy.copy(obj), copy.deepcopy(obj)):
        assert type(again) is type(obj)
        assert again == obj
        assert [getattr(again, f.name) for f in dataclasses.fields(obj)] == [  # type: ignore[arg-type]
            getattr(obj, f.name) for f in dataclasses.fields(obj)  # type: ignore[arg-type]
        ]


def test_a_subclass_may_add_attributes_but_not_change_fields() -> None:
    class Tagged(Row):
        """A plain subclass of a record (no record itself), as a frozen dataclass allows."""

    tagged = Tagged("a")
    tagged.note = "free"  # type: ignore[attr-defined]
    assert tagged.note == "free"  # type: ignore[attr-defined]
    with pytest.raises(FrozenInstanceError):
        tagged.name = "b"  # type: ignore[misc]


def test_a_record_writes_its_own_init_and_keeps_its_methods() -> None:
    with pytest.raises(TypeError, match="must define __init__"):

        @record
        class NoInit:
            x: int

    @record
    class Shown:
        x: int

        def __init__(self, x: int) -> None:
            self.__dict__["x"] = x

        def __repr__(self) -> str:
            return "<shown>"

    assert repr(Shown(1)) == "<shown>" and Shown(1) == Shown(1)
