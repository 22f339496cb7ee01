"""Journey policies: which role may record which stage, and which stage may follow which.

A policy is data, recorded in the ledger as an operator-signed ``policy`` entry. It is default-deny:
a stage that is not listed does not exist, a transition that is not listed is refused.

Each stage has a rule:

* ``roles``: the roles that may record it (a signer needs at least one of them);
* ``start``: whether it may be an item's first event;
* ``after``: the stages it may directly follow (list a stage in its own ``after`` to let it repeat).

A stage that no other stage lists in ``after`` is terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ._internal.record import record
from .errors import EncodingError, InputError, RoleError, StageError, StageNameError, StageOrderError

__all__ = ["DEFAULT_CODE_STAGES", "DEFAULT_POLICY", "NAME_RE", "Policy", "StageRule", "check_name", "check_stage_name"]

NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
"""Stage and role names: lowercase ASCII, digits, ``_`` and ``-``; 1 to 32 characters."""

MAX_STAGES = 64


def check_name(value: object, what: str) -> str:
    """Return ``value`` if it is a valid stage or role name, else raise :class:`EncodingError`."""
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise EncodingError(
            f"{what} {value!r} is not a valid name (lowercase letters, digits, '_' or '-', at most 32)"
        )
    return value


def check_stage_name(stage: object) -> str:
    """Return ``stage`` if it is a well-formed stage name (:data:`NAME_RE`), else raise
    :class:`StageNameError`, a bad argument. Whether the policy defines it is :meth:`Policy.rule`'s
    question."""
    if type(stage) is not str or not NAME_RE.fullmatch(stage):
        raise StageNameError(f"{stage!r} is not a valid stage name (lowercase letters, digits, '_', '-')")
    return stage


def _name_set(values: object, what: str) -> frozenset[str]:
    if not isinstance(values, list | tuple | frozenset | set):
        raise EncodingError(f"{what} must be a list of names")
    names = [check_name(v, what) for v in values]
    if isinstance(values, list) and names != sorted(set(names)):
        raise EncodingError(f"{what} must be sorted and without duplicates")
    return frozenset(names)


@record
class StageRule:
    """What the policy says about one stage."""

    roles: frozenset[str]
    after: frozenset[str]
    start: bool = False

    def __init__(self, roles: frozenset[str], after: frozenset[str], start: bool = False) -> None:
        fields = self.__dict__
        fields["roles"] = roles
        fields["after"] = after
        fields["start"] = start

    def to_map(self) -> dict[str, object]:
        """The canonical map form of this rule."""
        return {"after": sorted(self.after), "roles": sorted(self.roles), "start": self.start}


@record
class Policy:
    """A journey policy: a rule per stage. Build one with :meth:`from_map` or :meth:`build`."""

    stages: Mapping[str, StageRule]

    def __init__(self, stages: Mapping[str, StageRule]) -> None:
        self.__dict__["stages"] = stages
        if not isinstance(self.stages, Mapping) or not all(isinstance(r, StageRule) for r in self.stages.values()):
            raise EncodingError("a policy's stages are a map from stage name to StageRule")
        if not self.stages:
            raise EncodingError("a policy must define at least one stage")
        if len(self.stages) > MAX_STAGES:
            raise EncodingError(f"a policy may define at most {MAX_STAGES} stages")
        if not any(r.start for r in self.stages.values()):
            raise EncodingError("a policy must have at least one stage with start = true")
        for name, rule in self.stages.items():
            check_name(name, "stage")
            if not rule.roles:
                raise EncodingError(f"stage {name!r} names no role that may record it")
            for prev in rule.after:
                if prev not in self.stages:
                    raise EncodingError(f"stage {name!r} may follow {prev!r}, which is not a stage")

    @classmethod
    def build(cls, rules: Mapping[str, tuple[Iterable[str], Iterable[str], bool]]) -> Policy:
        """A policy from ``{stage: (roles, after, start)}``; :class:`EncodingError` for any other shape."""
        if not isinstance(rules, Mapping) or not all(
            isinstance(r, tuple | list) and len(r) == 3 and all(isinstance(n, Iterable) for n in r[:2])
            for r in rules.values()
        ):
            raise EncodingError("a policy is built from {stage: (roles, after, start)}")
        return cls(
            {
                s: StageRule(frozenset(roles), frozenset(after), bool(start))
                for s, (roles, after, start) in rules.items()
            }
        )

    @classmethod
    def from_map(cls, value: object) -> Policy:
        """Parse the canonical map form (the ``stages`` field of a policy entry)."""
        if not isinstance(value, dict):
            raise EncodingError("policy stages must be a map")
        stages: dict[str, StageRule] = {}
        for name, rule in value.items():
            check_name(name, "stage")
            if not isinstance(rule, dict) or set(rule) != {"after", "roles", "start"}:
                raise EncodingError(f"the rule of stage {name!r} must have exactly: after, roles, start")
            if not isinstance(rule["start"], bool):
                raise EncodingError(f"start of stage {name!r} must be a boolean")
            stages[name] = StageRule(
                roles=_name_set(rule["roles"], "role"),
                after=_name_set(rule["after"], "stage"),
                start=rule["start"],
            )
        return cls(stages)

    def to_map(self) -> dict[str, object]:
        """The canonical map form."""
        return {name: rule.to_map() for name, rule in self.stages.items()}

    @property
    def code_stages(self) -> list[str]:
        """The stage list of an item code (docs/spec/item-code.md): a code names a stage by its index here.

        For any policy the names sorted bytewise, except :data:`DEFAULT_POLICY`, whose list is fixed: its
        first six stages sorted, then ``return``, which came later. A stage added to the default policy goes
        at the end, so that every code made before keeps its meaning.
        """
        if self == DEFAULT_POLICY:
            return list(DEFAULT_CODE_STAGES)
        return sorted(self.stages)

    @property
    def terminal(self) -> frozenset[str]:
        """Stages that no stage may follow."""
        followed = {p for r in self.stages.values() for p in r.after}
        return frozenset(s for s in self.stages if s not in followed)

    def rule(self, stage: str) -> StageRule:
        """The rule of ``stage``; :class:`StageError` when the policy does not define it
        (:class:`StageNameError` when ``stage`` is not even a well-formed name)."""
        try:
            return self.stages[stage]
        except (KeyError, TypeError):  # TypeError: an unhashable stage
            pass
        check_stage_name(stage)
        known = ", ".join(sorted(self.stages))
        raise StageError(f"unknown stage {stage!r}; the policy defines: {known}")

    def check(self, stage: str, previous: str | None, roles: Iterable[str], party: str = "signer") -> None:
        """Raise unless a signer holding ``roles`` may record ``stage`` after ``previous``.

        ``previous`` is the item's last stage, or None for its first event.
        """
        rule = self.rule(stage)
        if type(roles) is frozenset:  # a registered key's roles (every append): no ABC check needed
            held = roles
        elif isinstance(roles, str) or not isinstance(roles, Iterable):
            raise InputError("roles must be a collection of role names")
        else:
            held = frozenset(roles)
        if not held & rule.roles:
            raise RoleError(
                f"{party}, holding the role {' and '.join(sorted(held)) or 'none'}, may not record stage {stage!r}; "
                f"it needs the role {' or '.join(sorted(rule.roles))}"
            )
        if previous is None:
            if not rule.start:
                starts = ", ".join(sorted(s for s, r in self.stages.items() if r.start))
                raise StageOrderError(
                    f"stage {stage!r} cannot start a journey; the first stage must be: {starts}"
                )
        elif previous not in rule.after:
            allowed = sorted(s for s, r in self.stages.items() if previous in r.after)
            nxt = ", ".join(allowed) if allowed else "nothing (the journey is complete)"
            raise StageOrderError(
                f"stage {stage!r} may not follow {previous!r}; after {previous!r} comes: {nxt}"
            )


DEFAULT_POLICY = Policy.build(
    {
        "origin": (["origin"], [], True),
        "export": (["origin"], ["origin"], False),
        "import": (["customs"], ["origin", "export"], False),
        "warehouse": (["warehouse"], ["import", "warehouse", "return"], False),
        "appraisal": (["appraiser"], ["warehouse", "appraisal", "return"], False),
        "delivery": (["courier"], ["warehouse", "appraisal"], False),
        "return": (["courier", "warehouse"], ["delivery"], False),
    }
)
"""The cross-border journey: origin -> export (optional) -> import -> warehouse (repeats) ->
appraisal (optional, repeats) -> delivery, then optionally return (by a courier or a warehouse) -> a new
appraisal or warehouse stay -> delivery again. No stage is terminal: any delivery may be returned."""

DEFAULT_CODE_STAGES: tuple[str, ...] = ("appraisal", "delivery", "export", "import", "origin", "warehouse", "return")
"""The stage list of :data:`DEFAULT_POLICY` in item codes (see :attr:`Policy.code_stages`)."""
