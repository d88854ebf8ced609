"""The public strategy registry: ``register_strategy``, ``get_strategy``, ``list_strategies``.

A strategy is found by its registered name or by an import path ``package.module:attribute``
naming a :class:`Strategy` (importing the module registers what it decorates), so a study YAML or
``alseg run --strategy my_pkg.strategies:my_strategy`` can use a strategy alseg does not ship.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alseg.acquisition.base import (
    Explainer,
    Family,
    Needs,
    NoOptions,
    Selector,
    Strategy,
    StrategyOptions,
    Subset,
)
from alseg.errors import ConfigError, unknown_name
from alseg.plugins import import_attribute, missing_attribute

#: Not an acquisition function: train once on the whole pool (the 100% reference).
FULL = "full"

_STRATEGIES: dict[str, Strategy] = {}


def register_strategy(
    name: str,
    *,
    title: str,
    family: Family | str,
    description: str,
    needs: Needs | frozenset[str] | set[str] = frozenset(),
    options: type[StrategyOptions] = NoOptions,
    defaults: dict[str, Any] | None = None,
    head_dropout: float = 0.0,
    explain: Explainer | None = None,
    subset: Subset | None = None,
    one_shot: bool = False,
) -> Callable[[Selector], Strategy]:
    """Decorator: register ``select(view, k, rng, options)`` as strategy ``name``; returns the
    :class:`Strategy`. ``needs`` is a set of needs or a function of the options giving one."""
    needs_of: Needs = needs if callable(needs) else (lambda _, fixed=frozenset(needs): fixed)
    if name == FULL or ":" in name:
        raise ValueError(f"strategy name {name!r} is reserved or contains ':'")

    def decorate(select: Selector) -> Strategy:
        strategy = Strategy(
            name=name,
            title=title,
            family=Family(family),
            description=description,
            select=select,
            needs=needs_of,
            options=options,
            defaults=dict(defaults or {}),
            head_dropout=head_dropout,
            explain=explain,
            subset=subset,
            one_shot=one_shot,
        )
        if one_shot and strategy.needs_for():  # needs_for also validates the default options
            raise ValueError(f"one-shot strategy {name!r} picks from nothing: it can need nothing")
        strategy.parse_options()  # the defaults must validate
        _STRATEGIES[name] = strategy
        return strategy

    return decorate


def _builtins() -> dict[str, Strategy]:
    import alseg.acquisition.strategies  # noqa: F401  (registers the built-in strategies)

    return _STRATEGIES


def list_strategies() -> list[str]:
    """Names of the registered strategies (built-ins first, in registration order)."""
    return list(_builtins())


def get_strategy(name: str) -> Strategy:
    """The strategy registered as ``name``, or the Strategy at import path ``module:attribute``."""
    strategies = _builtins()
    if name in strategies:
        return strategies[name]
    if ":" in name:
        return _import_strategy(name)
    raise unknown_name("strategy", name, [*strategies, FULL, "<module>:<attribute>"])


def _import_strategy(path: str) -> Strategy:
    found = import_attribute(path, "strategy")
    if not isinstance(found, Strategy):
        what = "a Strategy: decorate a select function with alseg.register_strategy"
        raise missing_attribute(path, "strategy", what)
    return found


def check_strategy(name: str, options: dict[str, Any] | None = None) -> None:
    """ConfigError unless ``name`` is the 100% reference or a strategy accepting ``options``."""
    if name == FULL:
        if options:
            raise ConfigError("the 100% reference (strategy full) takes no strategy options")
        return
    get_strategy(name).parse_options(options)
