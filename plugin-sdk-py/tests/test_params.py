"""Params decoding: 103 naming the field, never the value; schemas from hints and docs."""

import dataclasses
import enum
import json
from typing import Dict, List, Literal, Optional, TypedDict

import pytest

from plughost_sdk import BaseModel, Field, NoParams, RpcError, decode_params, encode_result, schema_of


@dataclasses.dataclass
class Echo:
    session_id: str
    """Session UUID"""
    data: str


class Inner(BaseModel):
    count: int = Field(..., ge=0, le=255)


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@dataclasses.dataclass
class Outer:
    inner: Inner
    items: List[int]
    mode: Optional[Mode] = None


class Query(TypedDict, total=False):
    """A search."""

    q: str
    """Search text"""
    limit: int


def err(tp, text) -> str:
    with pytest.raises(RpcError) as e:
        decode_params(tp, text.encode() if isinstance(text, str) else text)
    assert e.value.code == 103
    assert not e.value.temporary
    return e.value.message


def test_decodes_valid_params():
    p = decode_params(Echo, b'{"session_id":"s","data":"ZA=="}')
    assert (p.session_id, p.data) == ("s", "ZA==")


def test_wrong_type_names_field_and_hides_value():
    m = err(Echo, '{"session_id": 12345678, "data": "x"}')
    assert m == "invalid params: field 'session_id': invalid type, expected a string"
    m = err(Inner, '{"count": "secret-value"}')
    assert m == "invalid params: field 'count': invalid type, expected an integer"
    assert "secret" not in m


def test_constraint_hides_value():
    m = err(Inner, '{"count": 4242}')
    assert m == "invalid params: field 'count': invalid value, expected a number <= 255"
    assert "4242" not in m


def test_missing_field():
    assert err(Echo, '{"session_id": "s"}') == "invalid params: missing field 'data'"


def test_nested_paths():
    m = err(Outer, '{"inner": {"count": 1}, "items": [1, "secret"]}')
    assert m == "invalid params: field 'items[1]': invalid type, expected an integer"
    m = err(Outer, '{"inner": {}, "items": []}')
    assert m == "invalid params: field 'inner': missing field 'count'"


def test_unknown_variant_hides_value():
    m = err(Outer, '{"inner": {"count": 1}, "items": [], "mode": "secret, expected x"}')
    assert m == "invalid params: field 'mode': unknown variant, expected `fast` or `slow`"


def test_literal():
    @dataclasses.dataclass
    class P:
        kind: Literal["a", "b", "c"]

    assert decode_params(P, b'{"kind":"b"}').kind == "b"
    assert err(P, '{"kind":"z"}') == "invalid params: field 'kind': unknown variant, expected `a`, `b`, or `c`"


def test_not_json():
    assert err(Echo, '{"session_id": "secret') == "invalid params: not valid JSON"
    assert err(Echo, "secret") == "invalid params: not valid JSON"
    assert err(Echo, '{"session_id":"s","data":"d"} trailing') == "invalid params: not valid JSON"
    assert err(Echo, '{"session_id": NaN}') == "invalid params: not valid JSON"
    assert err(Echo, b"\xff\xfe") == "invalid params: not valid JSON"


def test_not_an_object():
    assert err(Echo, '"secret"') == "invalid params: invalid type, expected struct Echo"


def test_bool_is_not_an_integer_and_float_is_not_an_integer():
    assert err(Inner, '{"count": true}') == "invalid params: field 'count': invalid type, expected an integer"
    assert err(Inner, '{"count": 1.5}') == "invalid params: field 'count': invalid type, expected an integer"


def test_empty_params_are_an_empty_object():
    assert isinstance(decode_params(NoParams, b""), NoParams)
    decode_params(NoParams, b"  ")
    decode_params(NoParams, b'{"anything": [1, {"x": null}]}')
    decode_params(NoParams, b"null")
    assert err(NoParams, "[1]") == "invalid params: invalid type, expected an object"
    assert err(Echo, "") == "invalid params: missing field 'session_id'"


def test_optional_without_default_may_be_absent():
    @dataclasses.dataclass
    class P:
        name: Optional[str]

    assert decode_params(P, b"{}").name is None
    assert decode_params(P, b'{"name": null}').name is None


def test_typeddict():
    q = decode_params(Query, b'{"q": "x"}')
    assert q == {"q": "x"}
    assert err(Query, '{"limit": "10"}') == "invalid params: field 'limit': invalid type, expected an integer"


def test_dict_values_are_checked():
    @dataclasses.dataclass
    class P:
        tags: Dict[str, int]

    assert err(P, '{"tags": {"a": 1, "b": "x"}}') == "invalid params: field 'tags.b': invalid type, expected an integer"


def test_string_length():
    class P(BaseModel):
        name: str = Field(..., max_length=3)

    assert err(P, '{"name": "secret"}') == "invalid params: field 'name': invalid length 6, expected at most 3 characters"


def test_schema_from_hints_and_docstrings():
    s = schema_of(Echo)
    assert s["type"] == "object"
    assert s["properties"]["session_id"] == {"type": "string", "description": "Session UUID"}
    assert s["required"] == ["session_id", "data"]
    assert "description" not in s  # the dataclass-invented docstring is not a description
    s = schema_of(Outer)
    assert s["properties"]["inner"] == {"$ref": "#/$defs/Inner"}
    assert s["$defs"]["Inner"]["properties"]["count"] == {"type": "integer", "minimum": 0, "maximum": 255}
    assert s["properties"]["mode"] == {"anyOf": [{"enum": ["fast", "slow"]}, {"type": "null"}], "default": None}
    assert s["properties"]["items"] == {"type": "array", "items": {"type": "integer"}}
    s = schema_of(Query)
    assert s["description"] == "A search."
    assert s["properties"]["q"] == {"type": "string", "description": "Search text"}
    assert "required" not in s
    json.dumps(s)


def test_pydantic_style_model():
    class EchoParams(BaseModel):
        """The seed's TerminalInputParams."""

        session_id: str = Field(..., description="Session UUID")
        data: str = Field(..., description="Base64 encoded input")
        echoed: bool = True

    s = schema_of(EchoParams)
    assert s["description"] == "The seed's TerminalInputParams."
    assert s["properties"]["session_id"]["description"] == "Session UUID"
    assert s["properties"]["echoed"] == {"type": "boolean", "default": True}
    assert s["required"] == ["session_id", "data"]
    p = decode_params(EchoParams, b'{"session_id":"s","data":"d"}')
    assert p.model_dump() == {"session_id": "s", "data": "d", "echoed": True}
    assert EchoParams.model_validate({"session_id": "a", "data": "b"}).session_id == "a"


def test_encode_result():
    assert encode_result({"ok": True}) == b'{"ok":true}'
    assert encode_result(Echo("s", "d")) == b'{"session_id":"s","data":"d"}'
    assert encode_result(None) == b"null"
    with pytest.raises(RpcError) as e:
        encode_result({"x": object()})
    assert e.value.code == 500
    assert e.value.message.startswith("could not encode result: ")
    with pytest.raises(RpcError) as e:
        encode_result({"x": float("nan")})
    assert e.value.code == 500


def test_a_result_schema_requires_every_field_since_every_field_is_serialized():
    class Inner(BaseModel):
        note: str = "n"

    class Reply(BaseModel):
        session_id: str
        echoed: bool = True
        inner: Optional[Inner] = None

    params = schema_of(Reply)
    assert params["required"] == ["session_id"]
    result = schema_of(Reply, output=True)
    assert result["required"] == ["session_id", "echoed", "inner"]
    assert result["properties"]["echoed"]["default"] is True
    assert result["$defs"]["Inner"]["required"] == ["note"]
    assert set(json.loads(encode_result(Reply(session_id="s")))) == {"session_id", "echoed", "inner"}

    class Partial(TypedDict, total=False):
        maybe: int

    # A TypedDict's absent keys stay absent in the reply, so they stay optional.
    assert "required" not in schema_of(Partial, output=True)
