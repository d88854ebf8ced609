"""Finding what a user names by import path ``package.module:attribute`` (strategies, datasets,
trainers): the registries share this lookup and its one-line errors."""

from __future__ import annotations

import importlib

from alseg.errors import ConfigError


def import_attribute(path: str, kind: str) -> object | None:
    """The attribute ``path`` names (None when the module lacks it); ConfigError when the module
    cannot be imported. ``kind`` (e.g. "strategy") prefixes the error."""
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"{kind} {path!r}: cannot import {module_name!r} ({error})") from None
    return getattr(module, attribute, None)


def missing_attribute(path: str, kind: str, what: str) -> ConfigError:
    """The error for a module without the named attribute (``what`` says what it should be)."""
    module_name, _, attribute = path.partition(":")
    return ConfigError(f"{kind} {path!r}: {module_name} has no {attribute!r} ({what})")
