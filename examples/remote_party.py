"""A remote party that signs on its own machine: prepare on the ledger, sign with the party's own signer, submit.

    python examples/remote_party.py OUTDIR

The customs broker's key lives in its HSM, here :class:`SoftHsm`, a stand-in that implements provchain's
``Signer`` protocol and never exposes the private key. The ledger service and the broker exchange only bytes
(hex in JSON, as they would over HTTP):

1. the ledger prepares the event against the item's current head and sends the body;
2. the broker decodes the body, checks it says what it expects, and signs it;
3. the ledger submits the signed entry, which is checked like any append.

If the item moved on in between (another party recorded a step), ``submit`` raises ``StaleHeadError`` and writes
nothing; the broker's request is prepared and signed again. Exits 0 when both events are in the ledger.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provchain import Event, KeyPair, Ledger
from provchain.entries import ENTRY_DOMAIN, Entry, decode_body
from provchain.errors import StaleHeadError
from provchain.keys import is_signer, key_id

ORIGIN = "example.com/acme-ledger"
ITEM = "SERUM-0001"


class SoftHsm:
    """An HSM stand-in: an Ed25519 key that can sign but never leaves the object. Implements ``Signer``."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.__key = Ed25519PrivateKey.generate()
        self._public = self.__key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.signatures = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def public_key(self) -> bytes:
        return self._public

    @property
    def key_id(self) -> bytes:
        return key_id(self._name, self._public)

    def sign(self, message: bytes) -> bytes:
        self.signatures += 1
        return self.__key.sign(message)


# --- the broker's machine --------------------------------------------------------------------------


def broker_sign(hsm: SoftHsm, request: str, expected_item: str, expected_stage: str) -> str:
    """Check the body the ledger asks us to sign, then sign it. Messages are JSON text, as on the wire."""
    body = bytes.fromhex(json.loads(request)["body"])
    event = decode_body(body)
    if not isinstance(event, Event) or (event.item, event.stage) != (expected_item, expected_stage):
        raise ValueError("the ledger asked us to sign something we did not record")
    if event.signer != hsm.key_id:
        raise ValueError("the body names another signer")
    signature = hsm.sign(ENTRY_DOMAIN + body)
    return json.dumps({"body": body.hex(), "signature": signature.hex()})


# --- the ledger service --------------------------------------------------------------------------------


def ledger_prepare(led: Ledger, signer_key_id: bytes) -> str:
    """Build the broker's import event against the item's current head; send its body."""
    event = led.prepare_event(ITEM, "import", signer_key_id, country="CN", place="Shanghai Yangshan port",
                              data={"declaration": "3101"})
    return json.dumps({"body": event.encode().hex()})


def ledger_submit(led: Ledger, response: str) -> Entry:
    """Append the signed entry; raises StaleHeadError if the item moved on since it was prepared."""
    message = json.loads(response)
    return led.submit(Entry(bytes.fromhex(message["body"]), bytes.fromhex(message["signature"])))


def main(outdir: str | Path | None = None) -> int:
    out = Path(outdir) if outdir is not None else Path(tempfile.mkdtemp(prefix="provchain-remote-"))
    out.mkdir(parents=True, exist_ok=True)
    operator = KeyPair.generate(ORIGIN)
    maker = KeyPair.generate("grasse-labs")
    hsm = SoftHsm("shanghai-customs-broker")
    print(f"The broker's signer is a {type(hsm).__name__} (a Signer: {is_signer(hsm)}), not a KeyPair")

    led = Ledger.create(out / "ledger.db", origin=ORIGIN, operator=operator)
    try:
        led.register_party(maker.name, ["origin"], maker.public_key)
        led.register_party(hsm.name, ["customs"], hsm.public_key)  # the broker sent only its public key
        led.append(ITEM, "origin", maker, country="FR", place="Grasse")
        print(f"{ITEM}: origin recorded by {maker.name}")

        # Prepared and signed, but the maker records the export before the broker's answer comes back.
        request = ledger_prepare(led, hsm.key_id)
        print(f"ledger -> broker: please sign a {len(bytes.fromhex(json.loads(request)['body']))}-byte event body")
        response = broker_sign(hsm, request, ITEM, "import")
        led.append(ITEM, "export", maker, country="FR", place="Marseille Fos port")
        print(f"meanwhile {maker.name} records the export of {ITEM}: the item's head moves")

        attempts = 1
        while True:
            try:
                entry = ledger_submit(led, response)
                break
            except StaleHeadError as exc:
                print(f"submit attempt {attempts}: StaleHeadError: {exc}")
                if attempts == 3:
                    raise
                attempts += 1
                request = ledger_prepare(led, hsm.key_id)
                response = broker_sign(hsm, request, ITEM, "import")
        print(f"submit attempt {attempts}: stored as entry {entry.index}; the broker's HSM signed "
              f"{hsm.signatures} times")

        stages = [(e.stage, e.party) for e in led.history(ITEM)]
        print("history: " + " -> ".join(f"{stage} ({party})" for stage, party in stages))
        ok = [s for s, _ in stages] == ["origin", "export", "import"] and stages[-1][1] == hsm.name
    finally:
        led.close()
    print("OK: the broker signed on its own machine and its event is in the ledger" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
