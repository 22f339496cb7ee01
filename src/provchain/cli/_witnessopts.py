"""The witness options every verifying command shares: ``--witness``, ``--quorum``, ``--policy``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..errors import InputError

if TYPE_CHECKING:
    from ..witness import WitnessPolicy


def witness_options(action: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--witness WVKEY`` (repeatable), ``--quorum N`` and ``--policy FILE`` options, passed to the
    command as ``witness_keys``, ``quorum`` and ``policy_file``; ``action`` says what the witnesses are for."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option(
            "--policy",
            "policy_file",
            default=None,
            type=click.Path(dir_okay=False),
            help=f"A witness policy file (C2SP tlog-policy: witness, group and quorum lines) {action}; "
            "instead of --witness and --quorum.",
        )(f)
        f = click.option(
            "--quorum",
            type=click.IntRange(min=1),
            default=None,
            help="How many of the --witness keys must have cosigned (default: all).",
        )(f)
        return click.option(
            "--witness",
            "witness_keys",
            multiple=True,
            metavar="WVKEY",
            help=f"A witness verifier key (name+hex8+base64, the 0x04 or 0x01 form) {action}; repeat for more.",
        )(f)

    return decorate


def witness_policy(keys: tuple[str, ...], quorum: int | None, policy_file: str | None) -> WitnessPolicy | None:
    """The policy the witness options give, or None when none was given (exit 2 for a bad combination)."""
    if policy_file is None and not keys:
        if quorum is not None:
            raise InputError("--quorum counts --witness keys: give at least one --witness")
        return None
    from ..witness import WitnessPolicy  # here: a command without witness options starts without it

    if policy_file is not None:
        if keys or quorum is not None:
            raise InputError("give either --policy or --witness (and --quorum), not both")
        return WitnessPolicy.load(policy_file)
    return WitnessPolicy.from_witnesses(list(keys), quorum)
