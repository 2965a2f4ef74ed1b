"""Params and results: JSON Schemas from type hints and docstrings, decoding with errors
safe to show to any client (the field is named, the value never quoted), encoding.

Params and result types are dataclasses, `TypedDict`s or `BaseModel` subclasses (a
Pydantic-like base that is a dataclass underneath). Field descriptions come from
`Field(description=...)`, from a docstring line right below the field (like a Rust doc
comment), or from `dataclasses.field(metadata={"description": ...})`.
"""

import ast
import dataclasses
import enum
import inspect
import json
import sys
import textwrap
import typing
from typing import Any, Dict, List, Optional, Tuple, Union

from .errors import RpcError

_MISSING = dataclasses.MISSING


class _Required:
    def __repr__(self):
        return "..."


class FieldInfo:
    """What `Field(...)` records: a default, a description and simple constraints."""

    def __init__(self, default=_MISSING, *, default_factory=_MISSING, description=None,
                 alias=None, ge=None, le=None, gt=None, lt=None, min_length=None,
                 max_length=None, pattern=None, examples=None):
        if default is Ellipsis:
            default = _MISSING
        self.default = default
        self.default_factory = default_factory
        self.description = description
        self.alias = alias
        self.ge, self.le, self.gt, self.lt = ge, le, gt, lt
        self.min_length, self.max_length = min_length, max_length
        self.pattern = pattern
        self.examples = examples


def Field(default=_MISSING, **kwargs) -> Any:
    """Pydantic-style field: `Field(..., description="Session UUID", max_length=64)`."""
    info = FieldInfo(default, **kwargs)
    md = {"plughost": info}
    if info.default is not _MISSING:
        return dataclasses.field(default=info.default, metadata=md)
    if info.default_factory is not _MISSING:
        return dataclasses.field(default_factory=info.default_factory, metadata=md)
    return dataclasses.field(metadata=md)


class BaseModel:
    """A Pydantic-like base: subclasses become dataclasses (keyword-only fields, so
    defaults may come before required ones), checked and described like any params type.

    `model_dump()` and `model_validate(dict)` are there for code ported from Pydantic.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = "__annotations__" in cls.__dict__ or "__annotate__" in cls.__dict__
        if own or not dataclasses.is_dataclass(cls):
            dataclasses.dataclass(cls, kw_only=True)

    def model_dump(self) -> Dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def model_validate(cls, obj: Any):
        return _decode_value(cls, obj, [])


class NoParams:
    """Params type for a method that takes none: any JSON object (or null) is accepted."""


# ---------------------------------------------------------------- docstrings and fields


def _field_docs(cls) -> Dict[str, str]:
    """Docstring lines written right below a class's annotated fields."""
    docs: Dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or klass.__module__ == __name__:
            continue
        try:
            src = textwrap.dedent(inspect.getsource(klass))
            tree = ast.parse(src)
        except (OSError, TypeError, SyntaxError, IndentationError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for a, b in zip(body, body[1:]):
            if (isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name)
                    and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant)
                    and isinstance(b.value.value, str)):
                docs[a.target.id] = inspect.cleandoc(b.value.value)
    return docs


def _class_doc(cls) -> Optional[str]:
    doc = cls.__dict__.get("__doc__")
    if not doc:
        return None
    # The dataclass decorator invents `Name(field: type, ...)` when there is no docstring.
    if dataclasses.is_dataclass(cls) and doc.startswith(cls.__name__ + "("):
        return None
    return inspect.cleandoc(doc)


def _is_typeddict(tp) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__")


def _hints(cls) -> Dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


class _Spec:
    """One field of a params or result type."""

    __slots__ = ("name", "key", "tp", "required", "default", "info", "doc")

    def __init__(self, name, key, tp, required, info, doc):
        self.name, self.key, self.tp, self.required, self.info, self.doc = (
            name, key, tp, required, info, doc)


_SPECS: Dict[Any, List[_Spec]] = {}


def _specs(cls) -> List[_Spec]:
    cached = _SPECS.get(cls)
    if cached is not None:
        return cached
    docs = _field_docs(cls)
    hints = _hints(cls)
    out: List[_Spec] = []
    if _is_typeddict(cls):
        required = getattr(cls, "__required_keys__", set(hints) if cls.__total__ else set())
        for name, tp in hints.items():
            tp, _ = _strip_required(tp)
            out.append(_Spec(name, name, tp, name in required, None, docs.get(name)))
    else:
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            info = f.metadata.get("plughost") if f.metadata else None
            doc = (info.description if info and info.description else None) \
                or (f.metadata.get("description") if f.metadata else None) or docs.get(f.name)
            tp = hints.get(f.name, Any)
            has_default = f.default is not _MISSING or f.default_factory is not _MISSING
            # Like serde's Option: an Optional field without a default may be absent (None).
            required = not has_default and not _is_optional(tp)
            key = info.alias if info and info.alias else f.name
            out.append(_Spec(f.name, key, tp, required, info, doc))
    _SPECS[cls] = out
    return out


def _strip_required(tp):
    origin = typing.get_origin(tp)
    name = getattr(origin, "__name__", "") or getattr(origin, "_name", "")
    if name in ("Required", "NotRequired"):
        return typing.get_args(tp)[0], name
    return tp, None


def _is_optional(tp) -> bool:
    tp = _unannotated(tp)
    return _is_union(tp) and type(None) in typing.get_args(tp)


def _is_union(tp) -> bool:
    origin = typing.get_origin(tp)
    if origin is Union:
        return True
    return sys.version_info >= (3, 10) and origin is getattr(__import__("types"), "UnionType", None)


def _unannotated(tp):
    if typing.get_origin(tp) is typing.Annotated:
        return typing.get_args(tp)[0]
    return tp


def _annotated_doc(tp) -> Optional[str]:
    if typing.get_origin(tp) is typing.Annotated:
        for extra in typing.get_args(tp)[1:]:
            if isinstance(extra, str):
                return extra
            if isinstance(extra, FieldInfo) and extra.description:
                return extra.description
    return None


def _is_model(tp) -> bool:
    return isinstance(tp, type) and (dataclasses.is_dataclass(tp) or _is_typeddict(tp))


# ---------------------------------------------------------------- JSON Schema


def schema_of(tp, output: bool = False) -> Dict[str, Any]:
    """JSON Schema (draft 2020-12) of a params type, or with `output` of a result type.

    A result's dataclass and model fields are always serialized, defaults included, so in
    `output` mode they are all required (as Pydantic's serialization schemas have them): a
    typed client then gets `echoed: boolean`, not `echoed?: boolean`."""
    defs: Dict[str, Any] = {}
    root = _schema(tp, defs, top=True, output=output)
    if isinstance(tp, type) and _is_model(tp):
        root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": tp.__name__, **root}
    else:
        root = {"$schema": "https://json-schema.org/draft/2020-12/schema", **root}
    if defs:
        root["$defs"] = defs
    return root


def _schema(tp, defs, top=False, output=False) -> Dict[str, Any]:
    doc = _annotated_doc(tp)
    tp = _unannotated(tp)
    s = _schema_inner(tp, defs, top, output)
    if doc:
        s = {**s, "description": doc}
    return s


def _schema_inner(tp, defs, top, output) -> Dict[str, Any]:
    if tp is Any or tp is object:
        return {}
    if tp is NoParams:
        return {"type": "object"}
    if tp is type(None) or tp is None:
        return {"type": "null"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if tp is bytes:
        return {"type": "string", "contentEncoding": "base64"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if _is_union(tp):
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) == 1 and len(args) == 2:
            inner = _schema(non_null[0], defs, output=output)
            if set(inner) == {"type"} and isinstance(inner["type"], str):
                return {"type": [inner["type"], "null"]}
            return {"anyOf": [inner, {"type": "null"}]}
        return {"anyOf": [_schema(a, defs, output=output) for a in args]}
    if origin in (list, List, tuple, set, frozenset) or tp in (list, tuple, set):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return {"type": "array", "prefixItems": [_schema(a, defs, output=output) for a in args],
                    "minItems": len(args), "maxItems": len(args)}
        s = {"type": "array"}
        if args:
            s["items"] = _schema(args[0], defs, output=output)
        return s
    if origin in (dict, Dict) or tp is dict:
        s = {"type": "object"}
        if len(args) == 2:
            s["additionalProperties"] = _schema(args[1], defs, output=output)
        return s
    if _is_model(tp):
        body = _object_schema(tp, defs, output)
        if top:
            return body
        defs.setdefault(tp.__name__, body)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    raise TypeError(f"plughost_sdk: no JSON Schema for type {tp!r}")


def _object_schema(cls, defs, output=False) -> Dict[str, Any]:
    props: Dict[str, Any] = {}
    required: List[str] = []
    for spec in _specs(cls):
        s = dict(_schema(spec.tp, defs, output=output))
        if spec.doc:
            s["description"] = spec.doc
        info = spec.info
        if info is not None:
            for attr, key in (("ge", "minimum"), ("le", "maximum"), ("gt", "exclusiveMinimum"),
                              ("lt", "exclusiveMaximum"), ("pattern", "pattern"),
                              ("examples", "examples")):
                if getattr(info, attr) is not None:
                    s[key] = getattr(info, attr)
            is_str = _unannotated(spec.tp) is str
            if info.min_length is not None:
                s["minLength" if is_str else "minItems"] = info.min_length
            if info.max_length is not None:
                s["maxLength" if is_str else "maxItems"] = info.max_length
        if not spec.required and not _is_typeddict(cls):
            default = _default_of(cls, spec)
            if default is not _MISSING:
                try:
                    json.dumps(to_jsonable(default))
                    s["default"] = to_jsonable(default)
                except (TypeError, ValueError):
                    pass
        props[spec.key] = s
        if spec.required or (output and not _is_typeddict(cls)):
            required.append(spec.key)
    out: Dict[str, Any] = {"type": "object"}
    doc = _class_doc(cls)
    if doc:
        out["description"] = doc
    out["properties"] = props
    if required:
        out["required"] = required
    return out


def _default_of(cls, spec):
    for f in dataclasses.fields(cls):
        if f.name == spec.name:
            if f.default is not _MISSING:
                return f.default
            if f.default_factory is not _MISSING:
                return f.default_factory()
    return _MISSING


# ---------------------------------------------------------------- decoding


class _Invalid(Exception):
    def __init__(self, path: List[str], detail: str):
        super().__init__(detail)
        self.path = path
        self.detail = detail


def _reject_constant(_name):
    raise ValueError("not JSON")


def decode_params(tp, params: bytes):
    """Decodes JSON `params` into `tp`; empty params decode as `{}`.

    Raises RpcError 103 naming the failing field and what was expected, never quoting
    the input (params may carry secrets; the message reaches the client and the logs).
    """
    if isinstance(params, (bytes, bytearray, memoryview)):
        try:
            text = bytes(params).decode("utf-8")
        except UnicodeDecodeError:
            raise RpcError.invalid_params("invalid params: not valid JSON") from None
    else:
        text = params
    if text.strip() == "":
        text = "{}"
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise RpcError.invalid_params("invalid params: not valid JSON") from None
    try:
        return _decode_value(tp, value, [])
    except _Invalid as e:
        path = _path_text(e.path)
        if path:
            raise RpcError.invalid_params(f"invalid params: field '{path}': {e.detail}") from None
        raise RpcError.invalid_params(f"invalid params: {e.detail}") from None
    except RecursionError:
        raise RpcError.invalid_params("invalid params: nested too deeply") from None


def _path_text(path: List[str]) -> str:
    out = ""
    for p in path:
        if p.startswith("["):
            out += p
        else:
            out += ("." if out else "") + p
    return out


def _expected(tp) -> str:
    tp = _unannotated(tp)
    if tp is str:
        return "a string"
    if tp is bool:
        return "a boolean"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is bytes:
        return "a base64 string"
    if _is_model(tp):
        return f"struct {tp.__name__}"
    origin = typing.get_origin(tp)
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple, set):
        return "a sequence"
    if origin is dict or tp is dict:
        return "a map"
    if _is_optional(tp):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) == 1:
            return _expected(inner[0]) + " or null"
    return "a valid value"


def _variants(values) -> str:
    names = [f"`{v}`" for v in values]
    if len(names) <= 1:
        return "".join(names)
    if len(names) == 2:
        return f"{names[0]} or {names[1]}"
    return ", ".join(names[:-1]) + f", or {names[-1]}"


def _decode_value(tp, v, path):
    tp = _unannotated(tp)
    if tp is Any or tp is object:
        return v
    if tp is NoParams:
        if v is None or isinstance(v, dict):
            return NoParams()
        raise _Invalid(path, "invalid type, expected an object")
    if tp is type(None) or tp is None:
        if v is None:
            return None
        raise _Invalid(path, "invalid type, expected null")
    if tp is str:
        if isinstance(v, str):
            return v
        raise _Invalid(path, "invalid type, expected a string")
    if tp is bool:
        if isinstance(v, bool):
            return v
        raise _Invalid(path, "invalid type, expected a boolean")
    if tp is int:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        raise _Invalid(path, "invalid type, expected an integer")
    if tp is float:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        raise _Invalid(path, "invalid type, expected a number")
    if tp is bytes:
        import base64
        import binascii
        if isinstance(v, str):
            try:
                return base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                raise _Invalid(path, "invalid value, expected a base64 string") from None
        raise _Invalid(path, "invalid type, expected a base64 string")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for m in tp:
            if m.value == v and type(m.value) is type(v):
                return m
        raise _Invalid(path, f"unknown variant, expected {_variants([m.value for m in tp])}")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        for a in args:
            if a == v and type(a) is type(v):
                return a
        raise _Invalid(path, f"unknown variant, expected {_variants(args)}")
    if _is_union(tp):
        if v is None and type(None) in args:
            return None
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) == 1:
            return _decode_value(non_null[0], v, path)
        for a in non_null:
            try:
                return _decode_value(a, v, path)
            except _Invalid:
                continue
        raise _Invalid(path, "data did not match any variant of untagged enum")
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple, set):
        if not isinstance(v, list):
            raise _Invalid(path, "invalid type, expected a sequence")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(v) != len(args):
                raise _Invalid(path, f"invalid length {len(v)}, expected a tuple of size {len(args)}")
            return tuple(_decode_value(a, x, path + [f"[{i}]"]) for i, (a, x) in enumerate(zip(args, v)))
        item = args[0] if args else Any
        items = [_decode_value(item, x, path + [f"[{i}]"]) for i, x in enumerate(v)]
        if origin is tuple or tp is tuple:
            return tuple(items)
        if origin in (set, frozenset) or tp is set:
            return set(items)
        return items
    if origin is dict or tp is dict:
        if not isinstance(v, dict):
            raise _Invalid(path, "invalid type, expected a map")
        if len(args) == 2:
            return {k: _decode_value(args[1], x, path + [k]) for k, x in v.items()}
        return dict(v)
    if _is_model(tp):
        return _decode_object(tp, v, path)
    raise _Invalid(path, "invalid value")


def _decode_object(cls, v, path):
    if not isinstance(v, dict):
        raise _Invalid(path, f"invalid type, expected struct {cls.__name__}")
    kwargs = {}
    for spec in _specs(cls):
        if spec.key not in v:
            if spec.required:
                raise _Invalid(path, f"missing field '{spec.key}'")
            if _is_optional(spec.tp) and not _is_typeddict(cls) and _default_of(cls, spec) is _MISSING:
                kwargs[spec.name] = None
            continue
        value = _decode_value(spec.tp, v[spec.key], path + [spec.key])
        if spec.info is not None:
            _check_constraints(spec.info, value, path + [spec.key])
        kwargs[spec.name] = value
    if _is_typeddict(cls):
        return kwargs
    return cls(**kwargs)


def _check_constraints(info: FieldInfo, value, path):
    if value is None:
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if info.ge is not None and not value >= info.ge:
            raise _Invalid(path, f"invalid value, expected a number >= {info.ge}")
        if info.le is not None and not value <= info.le:
            raise _Invalid(path, f"invalid value, expected a number <= {info.le}")
        if info.gt is not None and not value > info.gt:
            raise _Invalid(path, f"invalid value, expected a number > {info.gt}")
        if info.lt is not None and not value < info.lt:
            raise _Invalid(path, f"invalid value, expected a number < {info.lt}")
    if isinstance(value, (str, list, tuple, set, dict)):
        unit = "characters" if isinstance(value, str) else "items"
        if info.min_length is not None and len(value) < info.min_length:
            raise _Invalid(path, f"invalid length {len(value)}, expected at least {info.min_length} {unit}")
        if info.max_length is not None and len(value) > info.max_length:
            raise _Invalid(path, f"invalid length {len(value)}, expected at most {info.max_length} {unit}")
    if info.pattern is not None and isinstance(value, str):
        import re
        if re.search(info.pattern, value) is None:
            raise _Invalid(path, "invalid value, expected a string matching the pattern")


# ---------------------------------------------------------------- encoding


def to_jsonable(value):
    """Dataclasses, BaseModels, enums, tuples and sets as plain JSON values."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            info = f.metadata.get("plughost") if f.metadata else None
            key = info.alias if info and info.alias else f.name
            out[key] = to_jsonable(getattr(value, f.name))
        return out
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, dict):
        out = {}
        for k, x in value.items():
            if not isinstance(k, str):
                raise TypeError("map keys must be strings")
            out[k] = to_jsonable(x)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(x) for x in value]
    if isinstance(value, (bytes, bytearray)):
        import base64
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, NoParams):
        return {}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value) -> str:
    return json.dumps(to_jsonable(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_result(value) -> bytes:
    """A handler's result as JSON text; 500 when it cannot be encoded."""
    try:
        return dumps(value).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as e:
        raise RpcError.internal(f"could not encode result: {e}") from None
