"""Checking a configuration against the classes it names, before anything is built or started.

:func:`~ipv8.configuration.validate_configuration` checks the shape of a configuration. The settings an
overlay entry passes on (``initialize``, and each walker's and bootstrapper's ``init``) can only be
checked against the classes they are meant for: :func:`check_configuration` does both, so a node with a
misspelt or mistyped setting refuses to start instead of failing on every packet later. It checks

* ``initialize``: every name must be a setting of the overlay's ``settings_class`` (an annotated or
  plain class attribute; the ones the service fills in itself are refused) and its value must match the
  annotation;
* walker and bootstrapper ``init``: every name must be a parameter of the class's constructor (unless it
  takes ``**kwargs``) and match its annotation;
* numbers: finite, and within the range the setting allows (:data:`RANGES` for the standard settings;
  other durations, names ending in ``timeout``, ``interval``, ``time`` or ``delay``, must be positive;
  no duration may exceed :data:`MAX_DURATION`).

Annotations are checked as far as they can be: ``int`` (not ``bool``), ``float`` (also an ``int``),
``bool``, ``str``, ``bytes``, ``None``, unions, ``list``/``tuple``/``dict`` with their element types,
classes and zope interfaces. Anything else (type variables, names only imported for type checkers) is
accepted. Overlay classes or strategy names that cannot be resolved are left to the service, which
reports them.
"""
from __future__ import annotations

import collections.abc
import inspect
import math
import sys
import types
import typing
from typing import Any, Mapping

from .configuration import ConfigurationError, validate_configuration

__all__ = ["MAX_DURATION", "RANGES", "check_configuration", "check_keywords", "check_settings"]

#: ``name -> (lowest, highest)`` allowed for the numeric settings of the standard overlays, strategies
#: and bootstrappers (None: unbounded on that side). Each bound is inclusive.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "max_peers": (-1, None),
    "timeout": (1e-3, None),
    "target_interval": (0, None),
    "window_size": (0, None),
    "reset_chance": (0, 256),
    "edge_length": (1, None),
    "neighborhood_size": (1, None),
    "edge_timeout": (1e-3, None),
    "sample_size": (1, None),
    "ping_interval": (1e-3, None),
    "inactive_time": (1e-3, None),
    "drop_time": (1e-3, None),
    "max_failures": (1, None),
    "bootstrap_timeout": (0, None),
    "initial_retry_interval": (1e-3, None),
    "dns_retry_interval": (1e-3, None),
}
_DURATION_SUFFIXES = ("timeout", "interval", "time", "delay")
#: The longest duration (in seconds) a setting may have: a year.
MAX_DURATION = 365 * 86400.0
# Set by the service from its own objects; a configuration can neither give them nor (in JSON) express them.
_SERVICE_SETTINGS = frozenset({"my_peer", "endpoint", "network", "community_id"})
_MAX_DEPTH = 16


# -- annotations --------------------------------------------------------------------------------------

def _resolve(annotation: object, owner: object) -> object:
    """The type an annotation stands for; ``Any`` when it cannot be evaluated here."""
    if not isinstance(annotation, str):
        return annotation
    module = sys.modules.get(getattr(owner, "__module__", ""), None)
    namespace = dict(vars(module)) if module is not None else {}
    try:
        return eval(annotation, namespace, {})  # noqa: S307 - annotations of classes we import ourselves
    except Exception:  # noqa: BLE001 - TYPE_CHECKING-only names, newer syntax: not checkable, so accept
        return Any


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe_type(expected: object) -> str:
    if isinstance(expected, type):
        return {"NoneType": "null", "float": "a number", "int": "an integer", "bool": "true or false",
                "str": "a string", "list": "a list", "tuple": "a list", "dict": "an object"}.get(
                    expected.__name__, expected.__name__)
    return str(expected).replace("typing.", "")


def _mismatch(value: object, expected: object, depth: int = 0) -> tuple[str, str, object] | None:  # noqa: C901, PLR0911, PLR0912
    """
    Where and why ``value`` does not match the type ``expected``, or None when it matches (or cannot be
    told): ``(path inside the value, e.g. "[2]", the problem, the offending part of the value)``.
    """
    if depth > _MAX_DEPTH:
        return "", "is nested too deeply", value
    if expected is Any or expected is object or expected is inspect.Parameter.empty:
        return None
    origin = typing.get_origin(expected)
    arguments = typing.get_args(expected)
    if origin is typing.Union or (hasattr(types, "UnionType") and isinstance(expected, types.UnionType)):
        if any(_mismatch(value, option, depth + 1) is None for option in arguments):
            return None
        return "", f"must be {' or '.join(_describe_type(option) for option in arguments)}", value
    if expected is None or expected is type(None):
        return None if value is None else ("", "must be null", value)
    if expected is bool:
        return None if isinstance(value, bool) else ("", "must be true or false", value)
    if expected is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else ("", "must be an integer", value)
    if expected is float:
        return None if _is_number(value) else ("", "must be a number", value)
    if origin in (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Iterable,
                  collections.abc.Collection) or expected in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return "", "must be a list", value
        if origin is tuple and arguments and arguments[-1] is not Ellipsis:
            if len(value) != len(arguments):
                return "", f"must be a list of {len(arguments)} items", value
            element_types = list(arguments)
        else:
            element_types = [arguments[0] if arguments else Any] * len(value)
        for index, (item, item_type) in enumerate(zip(value, element_types)):
            problem = _mismatch(item, item_type, depth + 1)
            if problem is not None:
                return f"[{index}]{problem[0]}", problem[1], problem[2]
        return None
    if origin in (dict, collections.abc.Mapping) or expected is dict:
        if not isinstance(value, dict):
            return "", "must be an object", value
        key_type, value_type = arguments if len(arguments) == 2 else (Any, Any)
        for key, item in value.items():
            problem = _mismatch(key, key_type, depth + 1) or _mismatch(item, value_type, depth + 1)
            if problem is not None:
                return f"[{key!r}]{problem[0]}", problem[1], problem[2]
        return None
    if origin is typing.Literal:
        return None if value in arguments else ("", f"must be one of {list(arguments)}", value)
    provided_by = getattr(expected, "providedBy", None)
    if callable(provided_by) and not isinstance(expected, type):  # a zope.interface Interface
        return None if provided_by(value) else ("", f"must provide {getattr(expected, '__name__', expected)}", value)
    if isinstance(expected, type) and origin is None:
        return None if isinstance(value, expected) else ("", f"must be {_describe_type(expected)}", value)
    return None


def _range_problem(name: str, value: object, default: object) -> str | None:
    if not _is_number(value):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    low, high = RANGES.get(name, (None, None))
    if name not in RANGES and name.endswith(_DURATION_SUFFIXES):
        # A duration nobody told us about: positive, or at least not negative if it defaults to 0.
        low = 0 if default == 0 else 1e-3
    if name.endswith(_DURATION_SUFFIXES) and high is None:
        high = MAX_DURATION  # huge delays overflow the reactor's timers
    if low is not None and value < low:
        return f"must be at least {low:g}" if low != 1e-3 else "must be a positive number"
    if high is not None and value > high:
        return f"must be at most {high:g}"
    return None


def _check_value(path: str, name: str, value: object, annotation: object, default: object) -> None:
    mismatch = _mismatch(value, annotation)
    if mismatch is None:
        problem = _range_problem(name, value, default)
        mismatch = None if problem is None else ("", problem, value)
    if mismatch is not None:
        inner_path, problem, offending = mismatch
        raise ConfigurationError(f"{path}.{name}{inner_path}", f"{problem}, got {_short(offending)}")


def _short(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return "a number of about %d digits" % int(value.bit_length() * 0.30103)  # repr() may refuse it
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- settings and constructors ------------------------------------------------------------------------

def _setter_annotation(prop: property, owner: type) -> object:
    """The annotation of the value a property's setter takes (``Any`` when it has none)."""
    try:
        parameters = list(inspect.signature(prop.fset).parameters.values())
    except (TypeError, ValueError):
        return Any
    if len(parameters) < 2 or parameters[1].annotation is inspect.Parameter.empty:
        return Any
    return _resolve(parameters[1].annotation, prop.fset)


def _settings_fields(settings_class: type) -> dict[str, tuple[object, object]]:
    """``name -> (annotation, default)`` of every setting a settings class declares, base classes included."""
    fields: dict[str, tuple[object, object]] = {}
    for klass in reversed(settings_class.__mro__):
        if klass is object:
            continue
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            fields[name] = (_resolve(annotation, klass), vars(klass).get(name, inspect.Parameter.empty))
        for name, default in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(default, property):
                # A settable property is a setting too (TunnelSettings.peer_flags, as in pyipv8): the value it is
                # checked against is what its setter is annotated to take.
                if default.fset is not None:
                    fields[name] = (_setter_annotation(default, klass), inspect.Parameter.empty)
                continue
            if callable(default) or isinstance(default, (classmethod, staticmethod)):
                continue
            fields.setdefault(name, (Any, default))
    return fields


def check_settings(settings_class: type, initialize: Mapping[str, Any], path: str) -> None:
    """
    Check the ``initialize`` entries of an overlay against its ``settings_class``.

    :raises ConfigurationError: for an unknown setting, or a value of the wrong type or out of range.
    """
    fields = _settings_fields(settings_class)
    for name, value in initialize.items():
        if name in _SERVICE_SETTINGS:
            raise ConfigurationError(f"{path}.{name}", "is set by the service and cannot be configured")
        if name not in fields:
            known = sorted(field for field in fields if field not in _SERVICE_SETTINGS)
            raise ConfigurationError(path, f"{settings_class.__name__} has no setting {name!r} "
                                           f"(known settings: {', '.join(known) or 'none'})")
        annotation, default = fields[name]
        _check_value(path, name, value, annotation, default)


def check_keywords(target: type, init: Mapping[str, Any], path: str, skip_leading: int = 0) -> None:
    """
    Check keyword arguments for the constructor of ``target`` against its signature.

    :param skip_leading: how many leading parameters the service passes itself (the overlay of a strategy).
    :raises ConfigurationError: for an unknown argument, or a value of the wrong type or out of range.
    """
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # builtins and exotic callables: nothing to check against
        return
    parameters = list(signature.parameters.values())[skip_leading:]
    accepts_any = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters)
    by_name = {parameter.name: parameter for parameter in parameters
               if parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD,
                                         inspect.Parameter.POSITIONAL_ONLY)}
    owner = getattr(target, "__init__", target)
    for name, value in init.items():
        parameter = by_name.get(name)
        if parameter is None:
            if accepts_any:
                continue
            raise ConfigurationError(path, f"{target.__name__} takes no argument {name!r} "
                                           f"(it takes: {', '.join(by_name) or 'nothing'})")
        _check_value(path, name, value, _resolve(parameter.annotation, owner), parameter.default)
    missing = [name for name, parameter in by_name.items()
               if parameter.default is inspect.Parameter.empty and name not in init]
    if missing:
        raise ConfigurationError(path, f"{target.__name__} needs {', '.join(repr(name) for name in missing)}")


def _offered_strategies(overlay_class: type) -> Mapping[str, type]:
    """The strategies an overlay class offers by name, if that can be told without an instance."""
    offer = getattr(overlay_class, "get_available_strategies", None)
    if offer is None:
        return {}
    try:
        offered = offer(None)  # the standard overlays answer from constants, not from the instance
    except Exception:  # noqa: BLE001 - needs a real instance: the service checks these names later
        return {}
    return offered if isinstance(offered, Mapping) else {}


def _check_overlay_entry(spec: Mapping[str, Any], path: str, extra_communities: Mapping[str, type]) -> None:
    from .service import STANDARD_BOOTSTRAPPERS, STANDARD_COMMUNITIES, STANDARD_STRATEGIES, import_standard
    name = spec["class"]
    overlay_class = extra_communities.get(name)
    if overlay_class is None and name in STANDARD_COMMUNITIES:
        overlay_class = import_standard(STANDARD_COMMUNITIES[name])
    if overlay_class is not None:
        check_settings(getattr(overlay_class, "settings_class", object), spec["initialize"], f"{path}.initialize")
        offered = _offered_strategies(overlay_class)
    else:
        offered = {}
    for index, walker in enumerate(spec["walkers"]):
        strategy = walker["strategy"]
        strategy_class = (import_standard(STANDARD_STRATEGIES[strategy]) if strategy in STANDARD_STRATEGIES
                          else offered.get(strategy))
        if strategy_class is not None:
            check_keywords(strategy_class, walker["init"], f"{path}.walkers[{index}].init", skip_leading=1)
    for index, entry in enumerate(spec["bootstrappers"]):
        bootstrapper_class = import_standard(STANDARD_BOOTSTRAPPERS[entry["class"]])
        if bootstrapper_class is not None:
            check_keywords(bootstrapper_class, entry["init"], f"{path}.bootstrappers[{index}].init")


def check_configuration(configuration: object, extra_communities: Mapping[str, type] | None = None) -> None:
    """
    Check ``configuration`` completely: its shape (:func:`~ipv8.configuration.validate_configuration`),
    then every overlay's settings and every walker's and bootstrapper's arguments against their classes.

    :param extra_communities: overlay classes by name, as given to :class:`~ipv8.service.IPv8`.
    :raises ConfigurationError: for the first problem found; its ``path`` names the setting.
    """
    validate_configuration(configuration)
    assert isinstance(configuration, Mapping)
    for index, spec in enumerate(configuration["overlays"]):
        _check_overlay_entry(spec, f"overlays[{index}]", extra_communities or {})
