"""The witness options every verifying command shares: ``--witness``, ``--quorum``, ``--policy``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..errors import InputError
from ..witness import WitnessPolicy

F = TypeVar("F", bound=Callable[..., Any])


def witness_options(f: F) -> F:
    """Add ``--witness WVKEY`` (repeatable), ``--quorum N`` and ``--policy FILE`` to a command."""
    f = click.option(
        "--policy",
        "witness_policy",
        default=None,
        type=click.Path(dir_okay=False),
        help="A C2SP witness policy file (tlog-policy: witness, group and quorum lines) to require.",
    )(f)
    f = click.option(
        "--quorum",
        default=None,
        type=click.IntRange(min=1),
        help="How many of the --witness keys must have cosigned (default: all of them).",
    )(f)
    f = click.option(
        "--witness",
        "witness_vkeys",
        multiple=True,
        metavar="WVKEY",
        help="A witness verifier key (0x04 or 0x01 form) whose cosignature is required; repeatable.",
    )(f)
    return f


def witness_policy(vkeys: tuple[str, ...], quorum: int | None, policy_path: str | None) -> WitnessPolicy | None:
    """The policy the options ask for, or None when none was given."""
    if policy_path is not None:
        if vkeys or quorum is not None:
            raise InputError("give --policy, or --witness keys (with --quorum), not both")
        return WitnessPolicy.load(policy_path)
    if quorum is not None and not vkeys:
        raise InputError("--quorum counts --witness keys: give at least one")
    if not vkeys:
        return None
    return WitnessPolicy.from_witnesses(list(vkeys), quorum)
