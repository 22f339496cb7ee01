"""The service's OpenAPI 3.1 description (tests check that it names every route of the app, and no other)."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "a stable code: unknown_item, too_large, refused, ..."},
        "message": {"type": "string"},
        "type": {"type": "string", "description": "the provchain exception, when one was raised"},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _text(description: str, media: str = "text/plain") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


def _errors(*codes: int) -> dict[str, Any]:
    names = {400: "malformed input", 401: "no or wrong operator token", 403: "operator actions are off",
             404: "unknown item or no register", 408: "the body was too slow", 409: "conflict",
             411: "no Content-Length", 413: "the body is too large", 415: "not JSON",
             422: "invalid request, or refused by the ledger's rules", 429: "rate limited",
             503: "busy, or no operator key"}
    return {str(c): _json(names[c], _ref("Error")) for c in codes}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_BODY_ERRORS = (400, 408, 411, 413, 415, 422, 429)
_ITEM = {"name": "item", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 384},
         "description": "the item id, percent-encoded (a '/' in an id as %2F)"}


def openapi_document(origin: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the service of the ledger ``origin``."""
    op: list[dict[str, list[str]]] = [{"operatorToken": []}]
    paths: dict[str, Any] = {
        "/v1": {"get": {"summary": "The ledger: origin, operator key, size", "responses": {
            "200": _json("the ledger", {"type": "object"}), **_errors(429)}}},
        "/v1/items/{item}": {"get": {"summary": "The item's history", "parameters": [_ITEM], "responses": {
            "200": _json("the events in order", _ref("History")), **_errors(400, 404, 429)}}},
        "/v1/items/{item}/code": {"get": {
            "summary": "The item's operator-signed code, or its QR image",
            "parameters": [_ITEM,
                           {"name": "format", "in": "query", "schema": {"enum": ["json", "png", "svg"]}},
                           {"name": "profile", "in": "query", "schema": {"enum": ["compact", "full"]}}],
            "responses": {
                "200": {"description": "the code", "content": {
                    "application/json": {"schema": {"type": "object", "properties": {
                        "item": {"type": "string"}, "code": {"type": "string"}, "version": {"type": "integer"}}}},
                    "image/png": {"schema": {"type": "string", "format": "binary"}},
                    "image/svg+xml": {"schema": {"type": "string"}}}},
                **_errors(400, 404, 422, 429, 503)}}},
        "/v1/items/{item}/proof": {"get": {
            "summary": "A C2SP tlog-proof of the item's head in the latest checkpoint", "parameters": [_ITEM],
            "responses": {"200": _text("the proof"), **_errors(400, 404, 409, 429)}}},
        "/v1/checkpoint": {
            "get": {"summary": "The latest signed checkpoint (C2SP signed note)", "responses": {
                "200": _text("the note"), **_errors(404, 429)}},
            "post": {"summary": "Sign a checkpoint of the current tree (operator)", "security": op, "responses": {
                "201": _text("the new note"), **_errors(401, 403, 429, 503)}}},
        "/v1/proofs/consistency": {"get": {
            "summary": "An RFC 9162 consistency proof between two tree sizes",
            "parameters": [{"name": "from", "in": "query", "required": True, "schema": {"type": "integer"}},
                           {"name": "to", "in": "query", "schema": {"type": "integer"}}],
            "responses": {"200": _json("the proof", {"type": "object"}), **_errors(422, 429)}}},
        "/v1/events/prepare": {"post": {
            "summary": "Build the next event of an item for a party to sign (nothing is written)",
            "requestBody": _body(_ref("Prepare")),
            "responses": {"200": _json("the body to sign", {"type": "object", "properties": {
                "body": {"type": "string", "description": "hex; sign provchain/v1/entry\\n + body"}}}),
                **_errors(*_BODY_ERRORS)}}},
        "/v1/events": {"post": {
            "summary": "Append an event that a party signed on its own machine",
            "requestBody": _body(_ref("SignedEntry")),
            "responses": {"201": _json("stored", {"type": "object"}), **_errors(*_BODY_ERRORS, 409, 503)}}},
        "/v1/scans": {"post": {
            "summary": "Verify a scanned code and record the scan (time and country only)",
            "requestBody": _body({"type": "object", "required": ["code"], "properties": {
                "code": {"type": "string"}, "country": {"type": "string", "pattern": "^[A-Z]{2}$"}}}),
            "responses": {"200": _json("the verdict and the item's scans", _ref("ScanAnswer")),
                          **_errors(*_BODY_ERRORS, 404)}}},
        "/v1/claims": {"post": {
            "summary": "Claim the item at delivery: the first claim wins",
            "requestBody": _body({"type": "object", "required": ["code", "claimant"], "properties": {
                "code": {"type": "string"}, "claimant": {"type": "string", "maxLength": 256}}}),
            "responses": {"201": _json("claimed", {"type": "object"}),
                          "200": _json("already claimed by the same claimant", {"type": "object"}),
                          **_errors(*_BODY_ERRORS, 404, 409)}}},
        "/v1/register/{item}": {"get": {
            "summary": "What the register knows of an item, with its latest scans (operator)", "security": op,
            "parameters": [_ITEM, {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
            "responses": {"200": _json("the register's record", {"type": "object"}), **_errors(400, 401, 403, 404)}}},
        "/verify/": {"get": {"summary": "The verifier page", "responses": {
            "200": _text("the page", "text/html")}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _json("OpenAPI", {})}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": f"provchain service of {origin}", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {"operatorToken": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": _ERROR,
                "History": {"type": "object", "properties": {
                    "item": {"type": "string"}, "origin": {"type": "string"},
                    "events": {"type": "array", "items": {"type": "object"}}}},
                "Prepare": {"type": "object", "required": ["item", "stage", "key_id", "country"], "properties": {
                    "item": {"type": "string"}, "stage": {"type": "string"},
                    "key_id": {"type": "string", "pattern": "^[0-9a-f]{8}$"},
                    "country": {"type": "string"}, "place": {"type": "string"},
                    "data": {"type": "object"}, "at": {"type": "integer"}}},
                "SignedEntry": {"type": "object", "required": ["body", "signature"], "properties": {
                    "body": {"type": "string", "description": "hex"},
                    "signature": {"type": "string", "description": "hex, 64 bytes"}}},
                "ScanAnswer": {"type": "object", "required": ["verdict"], "properties": {
                    "verdict": {"enum": ["verified", "refused"]}, "item": {"type": "string"},
                    "scans": {"type": "integer"}, "first_scan": {"type": ["string", "null"]},
                    "last_scan": {"type": ["string", "null"]}, "claimed": {"type": "boolean"},
                    "claimed_at": {"type": ["string", "null"]},
                    "warnings": {"type": "array", "items": {"type": "object", "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"}}}},
                    "reason": {"type": "string"}, "message": {"type": "string"}}},
            },
        },
    }
