"""Loading communities from code instead of from a configuration dictionary.

An application with its own "session" object (settings, databases, other components) describes each of
its communities with a :class:`CommunityLauncher`, usually written declaratively with decorators::

    @overlay("my_app.communities", "ChatCommunity")
    @walk_strategy(RandomWalk, target_peers=20)
    @bootstrapper(DispersyBootstrapper, kw_args={"ip_addresses": [("127.0.0.1", 6421)], "dns_addresses": []})
    @kwargs(max_peers="session.max_peers")
    @precondition("session.chat_enabled")
    @after("IdentityLauncher")
    @set_in_session("chat_community")
    class ChatLauncher(CommunityLauncher):
        pass

A :class:`CommunityLoader` then launches the registered launchers in dependency order
(:class:`IPv8CommunityLoader` puts the communities into an :class:`~ipv8.service.IPv8` instance).

``@overlay`` and ``@name`` set a single answer. The other decorators extend the corresponding
:class:`CommunityLauncher` method of the decorated class (its own override, if it has one) instead of
replacing it, so they stack, can be repeated, and never change the base class.

``@precondition`` and ``@kwargs`` take Python *expressions as strings*, evaluated with the names
``session`` and ``self`` (the launcher) available: only ever use strings from your own source code.
"""
from __future__ import annotations

import functools
import importlib
import logging
import types
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar, Union

from .keyvault.crypto import default_eccrypto
from .peer import Peer

if TYPE_CHECKING:
    from .service import IPv8

__all__ = ["CommunityLauncher", "CommunityLoader", "IPv8CommunityLoader", "LauncherCycleError", "after",
           "bootstrapper", "kwargs", "name", "overlay", "precondition", "set_in_session", "walk_strategy"]

SessionT = TypeVar("SessionT")
CommunityT = TypeVar("CommunityT")
LauncherT = TypeVar("LauncherT", bound="type[CommunityLauncher]")

#: What the class-naming decorators accept: a class, a function returning one, or a module name
#: (followed by the class name as second argument).
ClassSource = Union[str, type, Callable[[], type]]


class LauncherCycleError(RuntimeError):
    """The ``not_before()`` dependencies of the launchers form a cycle; the message names them."""


class CommunityLauncher(Generic[SessionT, CommunityT]):
    """
    Describes how to create one community: which class, with which settings, peer, strategies and
    bootstrappers, under which condition and after which other launchers.

    Override methods or use the decorators of this module.
    """

    def __init__(self) -> None:
        #: Extra keyword arguments for the community's settings (read by :meth:`get_kwargs`).
        self.community_kwargs: dict[str, Any] = {}
        #: Kept for compatibility with py-ipv8 launchers; settings objects take keyword arguments only.
        self.community_args: list[Any] = []

    def get_overlay_class(self) -> type[CommunityT]:
        """
        The community class to create (``@overlay``).

        :raises NotImplementedError: if neither ``@overlay`` nor an override says which class.
        """
        raise NotImplementedError(f"{type(self).__name__} does not name its overlay class: use @overlay")

    def get_kwargs(self, session: SessionT) -> dict[str, Any]:
        """Keyword arguments for the community's settings object (``@kwargs``)."""
        return dict(self.community_kwargs)

    def get_my_peer(self, ipv8: IPv8, session: SessionT) -> Peer:
        """The identity of the community; a fresh curve25519 key unless overridden."""
        return Peer(default_eccrypto.generate_key("curve25519"))

    def get_walk_strategies(self) -> list[tuple[type, dict[str, Any], int]]:
        """``(strategy class, constructor keyword arguments, target peers)`` triples (``@walk_strategy``)."""
        return []

    def get_bootstrappers(self, session: SessionT) -> list[tuple[type, dict[str, Any]]]:
        """``(bootstrapper class, constructor keyword arguments)`` pairs (``@bootstrapper``)."""
        return []

    def get_name(self) -> str:
        """The name other launchers use in ``@after``; the class name unless ``@name`` sets one."""
        return type(self).__name__

    def should_launch(self, session: SessionT) -> bool:
        """Whether to launch at all (``@precondition``); True by default."""
        return True

    def not_before(self) -> list[str]:
        """Names of launchers that must have launched before this one (``@after``)."""
        return []

    def prepare(self, overlay_provider: IPv8, session: SessionT) -> None:
        """Hook called right before the community is created."""

    def finalize(self, ipv8: IPv8, session: SessionT, community: CommunityT) -> None:
        """Hook called once the community was created and registered (``@set_in_session``)."""


class CommunityLoader:
    """
    Keeps launchers by name and launches them in an order that respects their ``not_before()``.

    Subclasses implement :meth:`_launch`, which creates the community and must mark the launcher as
    launched (see :meth:`_mark_launched`).
    """

    def __init__(self) -> None:
        #: launcher name -> (launcher, launched yet)
        self.community_launchers: dict[str, tuple[CommunityLauncher, bool]] = {}
        self._logger = logging.getLogger(type(self).__name__)

    def set_launcher(self, launcher: CommunityLauncher) -> None:
        """
        Register ``launcher`` under its name, replacing an earlier one that has not launched yet.

        :raises TypeError: if ``launcher`` is not a :class:`CommunityLauncher`.
        """
        if not isinstance(launcher, CommunityLauncher):
            raise TypeError(f"expected a CommunityLauncher, got {type(launcher).__name__}")
        launcher_name = launcher.get_name()
        if launcher_name in self.community_launchers:
            if self.has_launched(launcher_name):
                self._logger.error("Not replacing launcher %s: it has launched already", launcher_name)
                return
            self._logger.info("Replacing launcher %s", launcher_name)
        self.community_launchers[launcher_name] = (launcher, False)

    def del_launcher(self, launcher: CommunityLauncher) -> None:
        """Unregister ``launcher`` (by its name); unknown launchers are ignored."""
        self.community_launchers.pop(launcher.get_name(), None)

    def get_launcher(self, launcher_name: str) -> CommunityLauncher:
        """The launcher registered under ``launcher_name`` (KeyError if none)."""
        return self.community_launchers[launcher_name][0]

    def has_launched(self, launcher_name: str) -> bool:
        """Whether the launcher registered under ``launcher_name`` has launched (KeyError if none)."""
        return self.community_launchers[launcher_name][1]

    def load(self, overlay_provider: IPv8, session: object) -> None:
        """
        Launch every registered launcher that has not launched yet and whose ``should_launch`` allows it,
        each after the launchers it names in ``not_before()``.

        :raises LauncherCycleError: if some launchers wait for each other; the others are launched first.
        """
        pending = [launcher for launcher, launched in self.community_launchers.values()
                   if not launched and launcher.should_launch(session)]
        while pending:
            ready = [launcher for launcher in pending if not self._blocking(launcher, session)]
            if not ready:
                names = sorted(launcher.get_name() for launcher in pending)
                raise LauncherCycleError(f"Cycle detected in CommunityLauncher not_before(): {names}")
            for launcher in ready:
                self._launch(launcher, overlay_provider, session)
                pending.remove(launcher)
        self._logger.info("Finished loading communities")

    def _blocking(self, launcher: CommunityLauncher, session: object) -> list[str]:
        """The dependencies of ``launcher`` that will launch but have not yet."""
        waiting = []
        for dependency in launcher.not_before():
            entry = self.community_launchers.get(dependency)
            # Unknown dependencies and dependencies that will never launch do not hold anyone up.
            if entry is not None and not entry[1] and entry[0].should_launch(session):
                waiting.append(dependency)
        return waiting

    def _mark_launched(self, launcher: CommunityLauncher) -> None:
        self.community_launchers[launcher.get_name()] = (launcher, True)

    def _launch(self, launcher: CommunityLauncher, ipv8: IPv8, session: object) -> None:
        """Create the community of ``launcher``; subclasses must implement this."""
        raise NotImplementedError


class IPv8CommunityLoader(CommunityLoader):
    """Launches communities into an :class:`~ipv8.service.IPv8` instance (its endpoint and network)."""

    def _launch(self, launcher: CommunityLauncher, ipv8: IPv8, session: object) -> None:
        launcher.prepare(ipv8, session)
        overlay_class = launcher.get_overlay_class()
        self._logger.info("Loading overlay %s", overlay_class.__name__)
        settings = overlay_class.settings_class(my_peer=launcher.get_my_peer(ipv8, session),
                                                endpoint=ipv8.endpoint, network=ipv8.network,
                                                **launcher.get_kwargs(session))
        community = overlay_class(settings)
        ipv8.overlays.append(community)
        for strategy_class, strategy_kwargs, target_peers in launcher.get_walk_strategies():
            strategy = strategy_class(community, **strategy_kwargs)
            if hasattr(ipv8, "add_strategy"):
                ipv8.add_strategy(community, strategy, target_peers)
            else:
                ipv8.strategies.append((strategy, target_peers))
        for bootstrapper_class, bootstrapper_kwargs in launcher.get_bootstrappers(session):
            community.bootstrappers.append(bootstrapper_class(**bootstrapper_kwargs))
        launcher.finalize(ipv8, session, community)
        self._mark_launched(launcher)


# -- decorators ----------------------------------------------------------------------------------------

def _extend(cls: LauncherT, method_name: str, combine: Callable[..., Any]) -> LauncherT:
    """
    Replace ``cls.method_name`` by a wrapper that calls the current implementation and then
    ``combine(self, its_result, *args)``, whose return value becomes the method's result.
    """
    current = getattr(cls, method_name)

    @functools.wraps(current)
    def extended(self: CommunityLauncher, *args: Any) -> Any:  # noqa: ANN401
        return combine(self, current(self, *args), *args)

    setattr(cls, method_name, extended)
    return cls


def _override(cls: LauncherT, method_name: str, implementation: Callable[..., Any]) -> LauncherT:
    """Give ``cls`` its own ``method_name``, ignoring what it inherited (for single-valued answers)."""
    implementation.__name__ = method_name
    implementation.__doc__ = getattr(CommunityLauncher, method_name).__doc__
    setattr(cls, method_name, implementation)
    return cls


def _note_hidden_import(cls: type, module_name: str) -> None:
    # Freezers (PyInstaller) cannot see lazy imports; they read this set.
    imports = set(getattr(cls, "hiddenimports", set()))
    imports.add(module_name)
    cls.hiddenimports = imports  # type: ignore[attr-defined]


def _class_resolver(cls: type, source: ClassSource, definition: str | None) -> Callable[[], type]:
    """A function producing the class that ``source`` (and ``definition``) point at, resolved on call."""
    if isinstance(source, str):
        if not definition:
            raise TypeError(f"a module name ({source!r}) must be followed by the name of a class in it")
        _note_hidden_import(cls, source)
        return lambda: getattr(importlib.import_module(source), definition)
    if isinstance(source, types.FunctionType):
        return source
    return lambda: source  # type: ignore[return-value]


def _evaluate(expression: str, launcher: CommunityLauncher, session: object) -> Any:  # noqa: ANN401
    return eval(expression, {"__builtins__": __builtins__}, {"session": session, "self": launcher})  # noqa: S307


def name(str_name: str) -> Callable[[LauncherT], LauncherT]:
    """Register the launcher under ``str_name`` instead of its class name."""
    def decorate(cls: LauncherT) -> LauncherT:
        return _override(cls, "get_name", lambda self: str_name)
    return decorate


def after(*launcher_name: str) -> Callable[[LauncherT], LauncherT]:
    """Launch only after the launchers named here (if they are registered and will launch); repeatable."""
    def decorate(cls: LauncherT) -> LauncherT:
        return _extend(cls, "not_before", lambda self, previous: [*previous, *launcher_name])
    return decorate


def precondition(str_condition: str) -> Callable[[LauncherT], LauncherT]:
    """Launch only if the expression ``str_condition`` (e.g. ``"session.dht_enabled"``) is true; repeatable."""
    def decorate(cls: LauncherT) -> LauncherT:
        def combine(self: CommunityLauncher, allowed: bool, session: object) -> bool:
            return bool(allowed and _evaluate(str_condition, self, session))
        return _extend(cls, "should_launch", combine)
    return decorate


def overlay(str_module_or_class: ClassSource, str_definition: str | None = None) -> Callable[[LauncherT], LauncherT]:
    """
    The community class to launch: ``@overlay(MyCommunity)``, ``@overlay(function_returning_the_class)``
    or ``@overlay("my_module.sub", "MyCommunity")`` (imported when the launcher launches).
    """
    def decorate(cls: LauncherT) -> LauncherT:
        resolve = _class_resolver(cls, str_module_or_class, str_definition)
        return _override(cls, "get_overlay_class", lambda self: resolve())
    return decorate


def walk_strategy(str_module_or_class: ClassSource, str_definition: str | None = None, target_peers: int = 20,
                  kw_args: dict[str, Any] | None = None) -> Callable[[LauncherT], LauncherT]:
    """
    Add a discovery strategy (class, function returning the class, or module and class name), created with
    ``kw_args`` and run while the community has fewer than ``target_peers`` peers (-1: always).
    """
    def decorate(cls: LauncherT) -> LauncherT:
        resolve = _class_resolver(cls, str_module_or_class, str_definition)

        def combine(self: CommunityLauncher, previous: list) -> list:
            return [*previous, (resolve(), dict(kw_args or {}), target_peers)]
        return _extend(cls, "get_walk_strategies", combine)
    return decorate


def bootstrapper(str_module_or_class: ClassSource, str_definition: str | None = None,
                 kw_args: dict[str, Any] | None = None) -> Callable[[LauncherT], LauncherT]:
    """Add a bootstrapper (class, function returning the class, or module and class name) created with ``kw_args``."""
    def decorate(cls: LauncherT) -> LauncherT:
        resolve = _class_resolver(cls, str_module_or_class, str_definition)

        def combine(self: CommunityLauncher, previous: list, session: object) -> list:
            return [*previous, (resolve(), dict(kw_args or {}))]
        return _extend(cls, "get_bootstrappers", combine)
    return decorate


def set_in_session(attribute_name: str) -> Callable[[LauncherT], LauncherT]:
    """Once launched, store the community as ``session.<attribute_name>``."""
    def decorate(cls: LauncherT) -> LauncherT:
        def combine(self: CommunityLauncher, previous: Any, ipv8: IPv8, session: object,  # noqa: ANN401
                    community: object) -> Any:  # noqa: ANN401
            setattr(session, attribute_name, community)
            return previous
        return _extend(cls, "finalize", combine)
    return decorate


def kwargs(**kw_args: str) -> Callable[[LauncherT], LauncherT]:
    """
    Settings for the community, each given as an expression string: ``@kwargs(max_peers="session.peers")``
    or ``@kwargs(greeting='"hello"')``.
    """
    def decorate(cls: LauncherT) -> LauncherT:
        def combine(self: CommunityLauncher, previous: dict, session: object) -> dict:
            evaluated = {key: _evaluate(expression, self, session) for key, expression in kw_args.items()}
            return {**previous, **evaluated}
        return _extend(cls, "get_kwargs", combine)
    return decorate

