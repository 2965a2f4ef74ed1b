"""Access to the componentize-py bindings (`wit_world`), imported only when first used,
so that a plugin whose world lacks an interface it never calls still builds and loads,
and so that tests can put a fake host in `sys.modules`."""

import importlib


def imports(name: str):
    """The bindings module of the world's import `name` (`publish`, `log`, `store`, ...)."""
    return importlib.import_module(f"wit_world.imports.{name}")


def err_type():
    """componentize-py's `Err`: what a host function raises for a WIT `result` error."""
    return importlib.import_module("componentize_py_types").Err


def variant(value):
    """(kind, detail) of a WIT variant case such as `PublishError_Denied("x")`:
    ("Denied", "x"). Cases without a payload have detail None."""
    name = type(value).__name__
    kind = name.split("_", 1)[1] if "_" in name else name
    return kind, getattr(value, "value", None)
