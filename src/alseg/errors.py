"""User-facing errors: the CLI prints their message as one line and exits with code 2."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class AlsegError(Exception):
    """Base of every error caused by user input (files, names, values), not by a bug."""


class ConfigError(AlsegError):
    """An unknown name, an impossible budget or another invalid setting."""


class DataError(AlsegError):
    """A missing, corrupt or inconsistent data file."""


def unknown_name(kind: str, value: object, allowed: list[str] | tuple[str, ...]) -> ConfigError:
    """The standard error for a name that is not registered."""
    return ConfigError(f"unknown {kind} {value!r}; allowed: {', '.join(sorted(allowed))}")


def without_worker_traceback(error: AlsegError) -> AlsegError:
    """The error as raised in a DataLoader worker, without the traceback torch wraps around it
    ("Caught DataError in DataLoader worker process 0. Original Traceback ... DataError: msg")."""
    text = str(error)
    if not text.startswith("Caught ") or "Original Traceback" not in text:
        return error
    name = type(error).__name__
    for line in reversed(text.strip().splitlines()):
        head, sep, message = line.partition(": ")
        if sep and head.rsplit(".", 1)[-1] == name:
            return type(error)(message)
    return error


def clean_worker_errors(batches: Iterable[T]) -> Iterator[T]:
    """``batches`` (from a DataLoader), re-raising a worker's user error with its own message."""
    try:
        yield from batches
    except AlsegError as error:
        clean = without_worker_traceback(error)
        if clean is error:
            raise
        raise clean from None
