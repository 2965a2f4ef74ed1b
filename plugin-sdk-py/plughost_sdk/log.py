"""Writing to the host's log, tagged with the plugin and request id (always granted)."""

from . import _host

_LEVELS = ("trace", "debug", "info", "warn", "error")


def log(level: str, message: str) -> None:
    """Logs `message` at `level` (`trace`, `debug`, `info`, `warn`, `error`)."""
    if level not in _LEVELS:
        raise ValueError(f"unknown log level {level!r}")
    mod = _host.imports("log")
    mod.log(getattr(mod.Level, level.upper()), str(message))


def trace(message: str) -> None:
    log("trace", message)


def debug(message: str) -> None:
    log("debug", message)


def info(message: str) -> None:
    log("info", message)


def warn(message: str) -> None:
    log("warn", message)


def error(message: str) -> None:
    log("error", message)
