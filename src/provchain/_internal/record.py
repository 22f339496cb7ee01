"""Frozen records: dataclasses whose methods are not generated at import.

``@dataclass(frozen=True)`` writes ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__`` and
``__delattr__`` of each class as source text and ``exec``s it: about 0.5 ms per class when the module is
imported, which for the thirty records on the path of ``provchain scan`` was a third of its start-up
(issue #20). :func:`record` keeps everything a dataclass offers its users (``dataclasses.fields``,
``replace``, ``asdict``, ``is_dataclass``; type checkers see a frozen dataclass) but generates no code:

- the class writes its own ``__init__`` (every record on a hot path did already, for speed), which sets
  each field with ``object.__setattr__`` or, in a class without slots, through ``self.__dict__``;
- equality, hashing and ``repr`` are shared functions over the fields, with the semantics of a frozen
  dataclass: equal only to an instance of the same class with equal compared fields, the hash of the
  compared fields, ``Name(field=value, ...)`` with the fields shown by ``repr``;
- assigning or deleting a field raises :class:`dataclasses.FrozenInstanceError`, as a frozen dataclass
  does, and a record with slots pickles and copies through its field values.

A method the class defines itself is kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["record"]

_T = TypeVar("_T")


@overload
def record(cls: type[_T], /) -> type[_T]: ...


@overload
def record(*, slots: bool = False) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: type[_T] | None = None, /, *, slots: bool = False) -> Any:
    """Make ``cls`` a frozen dataclass without generated methods (see the module's docstring); use as
    ``@record`` or ``@record(slots=True)``. ``cls`` must define ``__init__``."""
    if cls is None:
        return lambda c: _make(c, slots)
    return _make(cls, slots)


def _make(cls: type[_T], slots: bool) -> type[_T]:
    if "__init__" not in cls.__dict__:
        raise TypeError(f"record {cls.__qualname__} must define __init__")
    made: type[_T] = dataclasses.dataclass(init=False, repr=False, eq=False, slots=slots)(cls)
    fields = dataclasses.fields(made)  # type: ignore[arg-type]  # made is a dataclass now
    names = frozenset(f.name for f in fields)
    compared = _getter(tuple(f.name for f in fields if f.compare))
    shown = tuple(f.name for f in fields if f.repr)

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return bool(compared(self) == compared(other))

    def __hash__(self: Any) -> int:
        return hash(compared(self))

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{self.__class__.__qualname__}({inner})"

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is made or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(made, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is made or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(made, self).__delattr__(name)

    methods: dict[str, Callable[..., Any]] = {
        "__eq__": __eq__,
        "__hash__": __hash__,
        "__repr__": __repr__,
        "__setattr__": __setattr__,
        "__delattr__": __delattr__,
    }
    if slots:  # as dataclasses does for a frozen class with slots: unpickling may not go through setattr
        every = tuple(f.name for f in fields)

        def __getstate__(self: Any) -> list[Any]:
            return [getattr(self, name) for name in every]

        def __setstate__(self: Any, state: list[Any]) -> None:
            for name, value in zip(every, state, strict=True):
                object.__setattr__(self, name, value)

        methods["__getstate__"] = __getstate__
        methods["__setstate__"] = __setstate__
    for name, method in methods.items():
        if name not in made.__dict__:
            method.__qualname__ = f"{made.__qualname__}.{name}"
            setattr(made, name, method)
    return made


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function from a record to the tuple of its fields ``names`` (``attrgetter`` returns a bare value
    for one name)."""
    if len(names) >= 2:
        return attrgetter(*names)
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()
