"""Reading EPCIS documents: GS1's 47 examples against GS1's schema with format checking, and hostile
documents (huge, deeply nested, duplicated keys, wrong types) refused before or while parsing, in bounded
memory."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provchain import epcis
from provchain.errors import EpcisError

HERE = Path(__file__).parent / "vectors" / "epcis"
EXAMPLES = sorted((HERE / "examples").glob("*.jsonld"))
PACKAGED = Path(epcis.__file__).parent / "EPCIS-JSON-Schema.json"


def test_the_stored_examples_are_gs1s_47() -> None:
    assert len(EXAMPLES) == 47
    assert (HERE / "SOURCE.md").is_file() and (HERE / "LICENSE-GS1.txt").is_file()


def test_the_packaged_schema_is_gs1s_file() -> None:
    assert PACKAGED.read_bytes() == (HERE / "EPCIS-JSON-Schema.json").read_bytes()
    assert json.loads(PACKAGED.read_text(encoding="utf-8"))["$id"] == "https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json"


def test_format_checking_is_on() -> None:
    """Without the format extras, 'uri' would pass anything: these must fail."""
    doc = _minimal()
    doc["epcisBody"]["eventList"][0]["epcList"] = ["not a uri"]
    with pytest.raises(EpcisError, match="is not a 'uri'"):
        epcis.validate(doc)
    doc = _minimal()
    doc["creationDate"] = "yesterday"
    with pytest.raises(EpcisError, match="is not a 'date-time'"):
        epcis.validate(doc)


REPEATED_KEY = {"AssociationEvent_AssociationEvent-h": "eventID"}  # GS1's example repeats a key in one event


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_gs1_example_parses_and_validates(path: Path) -> None:
    repeated: list[str] = []
    doc = epcis.load_json(path.read_bytes(), duplicates=repeated)
    assert epcis.schema_errors(doc) == []
    assert repeated == ([REPEATED_KEY[path.stem]] if path.stem in REPEATED_KEY else [])
    if path.stem in REPEATED_KEY:  # the strict reader of import refuses it: which value would be recorded?
        with pytest.raises(EpcisError, match="appears twice in one object"):
            epcis.read_document(path.read_bytes())
    elif doc["type"] == "EPCISDocument":
        assert epcis.read_document(path.read_bytes()) == doc
    else:
        with pytest.raises(EpcisError, match="not an EPCISDocument"):
            epcis.read_document(path.read_bytes())


def _minimal(**event: Any) -> dict[str, Any]:
    ev = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "eventTime": "2025-10-09T10:00:00.000+02:00",
        "eventTimeZoneOffset": "+02:00",
        "epcList": ["https://id.gs1.org/01/09506000134352/21/A1"],
        "bizStep": "storing",
        **event,
    }
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2025-10-09T10:00:00Z",
        "epcisBody": {"eventList": [ev]},
    }


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"bizStep": "urn:epcglobal:cbv:bizstep:shipping"}, "bizStep"),  # CBV words are bare in JSON
        ({"bizStep": 7}, "bizStep"),
        ({"action": "MOVE"}, "action"),
        ({"eventTime": "2025-10-09 10:00"}, "eventTime"),
        ({"epcList": "https://id.gs1.org/01/09506000134352/21/A1"}, "epcList"),
        ({"readPoint": {"name": "dock"}}, "readPoint"),
        ({"disposition": "sold_out"}, "disposition"),
        ({"unknownField": 1}, "unknownField"),
    ],
)
def test_schema_errors_name_the_place(change: dict[str, Any], words: str) -> None:
    where = r"not valid EPCIS 2\.0 \(GS1's JSON Schema\): epcisBody\.eventList\[0\]"
    with pytest.raises(EpcisError, match=where) as info:
        epcis.read_document(json.dumps(_minimal(**change)).encode())
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"[" * 100 + b"]" * 100, "nests 100 levels"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nests 40 levels"),
        (b'{"a": 1, "a": 2}', "appears twice"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"a": ' + b"9" * 5000 + b"}", "a number of 5000 characters"),
        (b'{"a": 1e99999}', "not valid EPCIS"),  # an infinity written as a number: refused by the schema
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"a": ', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[]", "not valid EPCIS"),
        (json.dumps({"type": "EPCISQueryDocument"}).encode(), "not valid EPCIS"),
    ],
)
def test_hostile_documents_are_refused(data: bytes, words: str) -> None:
    with pytest.raises(EpcisError, match=words):
        epcis.read_document(data)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    doc = _minimal(**{"readPoint": {"id": "urn:x:" + "%5B" * 10}})
    text = json.dumps(doc).replace('"bizStep"', '"bizStep\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["', 1)
    assert epcis.load_json(text.encode())  # 36 '[' in a key: not nesting
    assert epcis.read_document(json.dumps(doc).encode()) == doc


def test_size_is_checked_before_parsing() -> None:
    with pytest.raises(EpcisError, match="more than the limit of 1000"):
        epcis.read_document(b" " * 1001, max_bytes=1000)


def test_deep_nesting_costs_bounded_memory() -> None:
    """A 4 MB document nested a million deep is refused by the byte scan: no parse tree is ever built
    (json would need far more memory than the input for the nested lists, or overflow the stack)."""
    data = b"[" * 2_000_000 + b"]" * 2_000_000
    tracemalloc.start()
    try:
        with pytest.raises(EpcisError, match="nests 2000000 levels"):
            epcis.load_json(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(data)


def test_a_wide_document_of_wrong_types_is_refused_in_bounded_memory() -> None:
    """200,000 events of the wrong type: parsed (the size is under the cap), then refused by the schema,
    which stops at the first error."""
    events = b",".join([b'{"type":"ObjectEvent","action":5}'] * 200_000)
    data = (
        b'{"@context":"https://x.example/c","type":"EPCISDocument","schemaVersion":"2.0",'
        b'"creationDate":"2025-10-09T10:00:00Z","epcisBody":{"eventList":[' + events + b"]}}"
    )
    with pytest.raises(EpcisError, match=r"eventList\[0\]"):
        epcis.read_document(data)


@given(st.binary(max_size=300))
def test_fuzz_random_bytes_are_refused_with_an_epcis_error(data: bytes) -> None:
    try:
        epcis.read_document(data)
    except EpcisError:
        return
    raise AssertionError("random bytes were accepted as an EPCIS document")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from(["type", "action", "epcList", "eventTime", "bizStep", "readPoint"]), _json))
def test_fuzz_events_of_wrong_shape_are_refused_or_valid(fields: dict[str, Any]) -> None:
    doc = _minimal()
    doc["epcisBody"]["eventList"][0].update(fields)
    try:
        epcis.read_document(json.dumps(doc).encode())
    except EpcisError:
        return


def _published_validator() -> Any:
    """jsonschema over GS1's schema exactly as published, references resolved by jsonschema itself."""
    from jsonschema import Draft7Validator, FormatChecker  # type: ignore[import-untyped]

    return Draft7Validator(epcis.schema(), format_checker=FormatChecker())


_PUBLISHED = _published_validator()
_MUTATIONS: list[Any] = [None, 0, -1, 1.5, True, "", "OBSERVE", "not a uri", "urn:x:1", [], {}, ["urn:x:1"], {"id": 1}]


def test_the_inlined_schema_is_the_published_one() -> None:
    """The checker inlines the schema's references for speed: on every GS1 example, it says what jsonschema over
    the published file says (the mutated documents are compared in the fuzz test below)."""
    for path in EXAMPLES:
        doc = epcis.load_json(path.read_bytes(), duplicates=[])
        assert _PUBLISHED.is_valid(doc) and epcis.schema_errors(doc) == []


@given(st.data())
def test_fuzz_the_inlined_schema_agrees_with_the_published_one(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from([p for p in EXAMPLES if "AssociationEvent-h" not in p.stem]))
    doc = epcis.load_json(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        node: Any = doc
        while isinstance(node, dict | list) and node and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
            if not isinstance(node[key], dict | list) or not node[key]:
                break
            node = node[key]
        if isinstance(node, dict) and node:
            node[data.draw(st.sampled_from(sorted(node)))] = data.draw(st.sampled_from(_MUTATIONS))
        elif isinstance(node, list) and node:
            node[data.draw(st.integers(0, len(node) - 1))] = data.draw(st.sampled_from(_MUTATIONS))
    assert _PUBLISHED.is_valid(doc) == (epcis.schema_errors(doc, 1) == [])
