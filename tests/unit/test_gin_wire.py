"""Go's JSON escapes, byte for byte (the API tests cover the rest of gin_wire over a socket)."""

from __future__ import annotations

import json

from app.api.gin_wire import go_json


def test_go_json_escapes_what_encoding_json_escapes() -> None:
    document = '{"a":"<x> & \u2028\u2029 \u00e9"}'.encode()
    assert go_json(document) == b'{"a":"\\u003cx\\u003e \\u0026 \\u2028\\u2029 \xc3\xa9"}'
    assert json.loads(go_json(document)) == json.loads(document)


def test_go_json_leaves_plain_documents_alone() -> None:
    document = b'{"code":0,"msg":"success","data":null}'
    assert go_json(document) is document
