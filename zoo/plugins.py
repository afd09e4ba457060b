"""Plugin discovery and the registry of backbone specs and config sources.

Plugins are found through the ``backbone_zoo`` entry-point group, first-party and third-party
alike; the core's own plugins (:data:`DEFAULT_PLUGINS`) are loaded the same way. ``ZOO_PLUGINS``
(comma-separated plugin names) limits which load: unset loads all, empty loads none.
``ZOO_STRICT_PLUGINS=1`` turns a broken plugin from a warning into an exception, for plugin
authors. A broken plugin never breaks the host, even one that calls ``sys.exit``; a name two
plugins declare is an error naming both, for that name only.

A plugin's code runs guarded while it loads: its import and each ``register_*`` hook get
``ZOO_PLUGIN_TIMEOUT`` seconds (30 by default) in a thread of their own, what it prints goes to
stderr (stdout is the command's results), ``sys.stdout`` and ``sys.stderr`` are put back after it, and
``os._exit`` raises in its thread instead of ending the process. Such a plugin is skipped, named in one
warning. The hooks called later (``locate_weights``, ``register_keras_objects``, ``external_files``) print
to stderr and raise on ``os._exit`` too. A factory that has not returned after that time is named on
stderr, and waited for.

Block patterns from model files are matched only in a bounded language (:func:`block_pattern_refusal`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import fnmatch
import functools
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib import metadata
from types import MappingProxyType
from typing import Any, Literal

import pluggy

from zoo import console, hookspecs, interrupts
from zoo.config_sources import ConfigSource
from zoo.errors import (
    ConfigError,
    DuplicateBackboneError,
    PluginError,
    PluginWarning,
    SpecError,
    UnknownBackboneError,
)
from zoo.spec import MODALITIES, BackboneSpec
from zoo.version import __version__

ENV_ALLOW = "ZOO_PLUGINS"
ENV_STRICT = "ZOO_STRICT_PLUGINS"
ENV_TIMEOUT = "ZOO_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT = 30.0  # seconds a plugin's import, or one of its register_* hooks, may take
# The core's own plugins, loaded after the installed ones exactly as entry points are (name = module).
DEFAULT_PLUGINS = (metadata.EntryPoint("user-config", "zoo.userconfig", hookspecs.ENTRY_POINT_GROUP),)
# What a plugin's code may raise and the zoo isolates: everything but Ctrl-C (KeyboardInterrupt), a sys.exit too.
PLUGIN_FAULTS = (Exception, SystemExit, GeneratorExit)


@dataclasses.dataclass(frozen=True)
class PluginInfo:
    """What ``zoo plugins`` shows for one plugin."""

    name: str
    version: str | None
    module: str | None
    status: Literal["loaded", "failed", "disabled", "incompatible"]
    error: str | None = None
    backbones: tuple[str, ...] = ()
    config_sources: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()  # its names (or aliases) that another plugin declares too: left out

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        lists = ("backbones", "config_sources", "conflicts")
        return {**data, **{key: list(data[key]) for key in lists}}


@dataclasses.dataclass
class Registry:
    """The backbones and ``backbones.toml`` sources of the loaded plugins, backbones indexed by name and alias."""

    specs: dict[str, BackboneSpec]
    plugins: list[PluginInfo]
    conflicts: list[str]
    _index: dict[str, str]
    _manager: pluggy.PluginManager | None = None
    config_sources: dict[str, ConfigSource] = dataclasses.field(default_factory=dict)
    _clashes: dict[str, str] = dataclasses.field(default_factory=dict)  # normalised name -> the error naming both

    def locate_weights(self, spec: BackboneSpec, tag: str) -> str | None:
        """The local path the plugin that registered ``spec`` reports for its weights ``tag`` (``None`` if none).

        Only that plugin is asked: a plugin's ``locate_weights`` never sees another plugin's specs.
        """
        manager = self._manager
        plugin = manager.get_plugin(spec.plugin) if manager is not None and spec.plugin else None
        if manager is None or plugin is None:
            return None
        arguments = {"spec": spec, "tag": tag}
        try:
            with _plugin_code():  # what it prints is not a result
                for impl in _impls(manager.hook.locate_weights, plugin):
                    found = impl.function(**{name: arguments[name] for name in impl.argnames})
                    if found is not None:
                        return found
        except PLUGIN_FAULTS as err:  # a plugin's bug must not break `zoo info`
            warnings.warn(f"locate_weights failed for {spec.name}: {_described(err)}", PluginWarning, stacklevel=2)
        return None

    def keras_objects(self, trusted: Sequence[str] = ()) -> list[type]:
        """The Keras classes the plugins' models need at load time (``register_keras_objects``).

        ``trusted`` (external files whose recorded SHA-256 was just checked) is passed on. A plugin
        whose hook raises is left out with a :class:`PluginWarning`; the others' classes still load.
        """
        found: list[type] = []
        for name, results in self._each("register_keras_objects", trusted=tuple(trusted)):
            if not isinstance(results, (list, tuple)) or not all(isinstance(c, type) for c in results):
                _warn(f"register_keras_objects of plugin {name!r} must return a list of classes, got {results!r}")
                continue
            found.extend(results)
        return found

    def external_files(self, layer: Any) -> list[str]:
        """The files outside the ``.keras`` archive that ``layer`` reads when loaded, as its plugin names them."""
        found: list[str] = []
        for _, results in self._each("external_files", layer=layer):
            found.extend(str(path) for path in results or ())
        return found

    def _each(self, hook: str, **arguments: Any) -> list[tuple[str, Any]]:
        """``(plugin name, result)`` of each implementation of ``hook``; one that fails warns and is left out."""
        if self._manager is None:
            return []
        results = []
        for impl in getattr(self._manager.hook, hook).get_hookimpls():
            try:
                with _plugin_code():
                    results.append((impl.plugin_name, impl.function(**{n: arguments[n] for n in impl.argnames})))
            except PLUGIN_FAULTS as err:
                _warn(f"{hook} of plugin {impl.plugin_name!r} failed: {_described(err)}")
        return results

    def check(self) -> None:
        """Raise :class:`DuplicateBackboneError` if two plugins declare one name."""
        if self.conflicts:
            raise DuplicateBackboneError("\n".join(self.conflicts))

    def get(self, name: str) -> BackboneSpec:
        """The spec whose name or alias is ``name``, case and separators aside; no guessing beyond that.

        An unknown name raises :class:`UnknownBackboneError` suggesting close names (:meth:`suggest`).
        """
        if not isinstance(name, str):
            raise ConfigError(f"a backbone is named by a string, e.g. 'resnet50', got {name!r}")
        key = _normalise(name)
        if key in self._clashes:  # declared twice: neither is meant more than the other
            raise DuplicateBackboneError(self._clashes[key])
        if key in self._index:
            return self.specs[self._index[key]]
        raise UnknownBackboneError(
            f"Unknown backbone {name!r}.{self._hint(name)} Run `zoo list` to see the {len(self.specs)} installed "
            "backbones, or install the plugin that provides it."
        )

    def list(self, pattern: str = "*", modality: str | None = None) -> list[BackboneSpec]:
        """Specs with a name or alias that matches ``pattern`` (see :func:`list_backbones`), sorted by name."""
        if modality is not None and modality not in MODALITIES:
            raise ConfigError(f"modality must be one of {MODALITIES} or None, got {modality!r}")
        if not isinstance(pattern, str):
            raise ConfigError(f"pattern is a string, e.g. 'resnet*', got {pattern!r}")
        matches = _matcher(pattern)
        found = [
            spec
            for spec in self.specs.values()
            if (modality is None or spec.modality == modality)
            and _normalise(spec.name) not in self._clashes
            and any(matches(_normalise(n)) for n in (spec.name, *spec.aliases))
        ]
        return sorted(found, key=lambda s: s.name)

    def select(self, patterns: str | Iterable[str], modality: str | None = None) -> list[BackboneSpec]:  # type: ignore[valid-type]
        """The specs ``patterns`` name, in their order and each once: exact names (or aliases) and fnmatch patterns.

        A name is looked up as by :meth:`get`, never guessed; a pattern or name that selects nothing
        (of ``modality``, when given) raises :class:`UnknownBackboneError`.
        """
        chosen: dict[str, BackboneSpec] = {}
        listed = [patterns] if isinstance(patterns, str) else list(patterns) if isinstance(patterns, Iterable) else None
        if listed is None or not all(isinstance(p, str) for p in listed):
            raise ConfigError(f"backbones are named by a string or a list of strings (names or patterns), got "
                              f"{patterns!r:.60}")  # fmt: skip
        for pattern in listed:
            if _is_pattern(pattern):
                found = self.list(pattern, modality)
            else:
                spec = self.get(pattern)
                found = [spec] if modality in (None, spec.modality) else []
            if not found:
                kind = f"{modality} backbone" if modality else "backbone"
                see = f"zoo list --modality {modality}" if modality else "zoo list"
                hint = self._hint(pattern) if _is_pattern(pattern) else ""
                raise UnknownBackboneError(f"no {kind} matches {pattern!r}.{hint} See `{see}`.")
            chosen.update((s.name, s) for s in found if s.name not in chosen)
        return list(chosen.values())

    def suggest(self, name: str, limit: int = 5) -> list[str]:  # type: ignore[valid-type]
        """Up to ``limit`` backbone names close to ``name``, best first, aliases included.

        First the names that contain it (case and separators aside), those where it starts a word
        ahead; then similar names (:mod:`difflib`). Equally close names come in natural order
        (``b2`` before ``b10``).
        """
        key = _normalise(_WILDCARDS.sub("", name))
        query = _compact(key)
        if not query:
            return []
        best: dict[str, tuple[int, float]] = {}  # name -> (tier: 0 word start, 1 inside, 2 similar; -similarity)
        for alias, spec_name in self._index.items():
            candidate, words = _compact(alias), alias.split("_")
            starts = [sum(map(len, words[:i])) for i in range(len(words))]
            tier = 0 if any(candidate.startswith(query, i) for i in starts) else 1 if query in candidate else 2
            score = (tier, -round(difflib.SequenceMatcher(None, key, alias).ratio(), 6))
            best[spec_name] = min(score, best.get(spec_name, score))
        ranked = sorted(best, key=lambda n: (best[n], _natural(n)))
        return [n for n in ranked if best[n][0] < 2 or best[n][1] <= -0.6][:limit]

    def _hint(self, name: str) -> str:
        names = self.suggest(name)
        return f" Did you mean: {', '.join(names)}?" if names else ""


def load_registry(
    *,
    allow: Iterable[str] | None = None,
    strict: bool | None = None,
    extra_plugins: Mapping[str, object] | None = None,
) -> Registry:
    """Discover plugins and collect their config sources, then their specs.

    ``allow`` and ``strict`` default to the ``ZOO_PLUGINS`` and ``ZOO_STRICT_PLUGINS`` variables;
    ``extra_plugins`` (name -> module or object) are registered in-process, after the entry points.
    A plugin that raises (``SystemExit`` included, ``KeyboardInterrupt`` not), calls ``os._exit`` or takes
    longer than ``ZOO_PLUGIN_TIMEOUT`` seconds is skipped with a :class:`PluginWarning`; what it prints goes
    to stderr. A name (or alias) declared twice warns and is left out, the rest works; looking it up raises
    :class:`DuplicateBackboneError` naming both. Strict mode raises at once.

    >>> reg = load_registry(allow=[])          # no entry-point plugin at all
    >>> reg.specs
    {}
    """
    if allow is None and ENV_ALLOW in os.environ:
        allow = [p for p in os.environ[ENV_ALLOW].split(",") if p.strip()]
    allowed = None if allow is None else {_plugin_key(a) for a in allow}
    if strict is None:
        strict = os.environ.get(ENV_STRICT, "").lower() in ("1", "true", "yes")
    limit = plugin_timeout()
    with _exits_raise():
        return _load(allowed, strict, extra_plugins, limit)


def _load(allowed: set[str] | None, strict: bool, extra_plugins: Mapping[str, object] | None, limit: float) -> Registry:
    """:func:`load_registry`'s work, each plugin's code run by :func:`_guarded`."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    plugins: list[PluginInfo] = []
    specs: dict[str, BackboneSpec] = {}
    index: dict[str, str] = {}
    conflicts: list[str] = []
    clashes: dict[str, str] = {}
    clashing: dict[str, set[str]] = {}  # plugin -> its names that clash

    def clash(key: str, first: BackboneSpec, second: BackboneSpec) -> None:
        message = _conflict(key, first, second)
        conflicts.append(message)
        clashes.setdefault(key, message)
        for spec in (first, second):
            clashing.setdefault(spec.plugin, set()).add(key)  # type: ignore[arg-type]

    def fail(info: PluginInfo, error: str) -> None:
        message = f"backbone-zoo plugin {info.name!r} failed: {error}"
        if strict:
            raise PluginError(message)
        _warn(message + f" (it is skipped; set {ENV_STRICT}=1 to raise instead)")
        status = info.status if info.status == "incompatible" else "failed"
        plugins.append(dataclasses.replace(info, status=status, error=error))

    # (info, a function that imports the plugin): an entry point may be importlib_metadata's class rather than the
    # standard library's (the backport's finder on sys.meta_path, once anything imports it, makes discovery return it)
    candidates: list[tuple[PluginInfo, Callable[[], Any]]] = []
    installed = sorted(metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda e: e.name)
    for ep in [*installed, *DEFAULT_PLUGINS]:
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=dist.name if dist else ep.name,
            version=dist.version if dist else None,
            module=ep.value,
            status="loaded",
        )
        if allowed is not None and not ({_plugin_key(ep.name), _plugin_key(info.name)} & allowed):
            plugins.append(dataclasses.replace(info, status="disabled"))
            continue
        incompatible = _incompatibility(dist)
        if incompatible:
            fail(dataclasses.replace(info, status="incompatible"), incompatible)
            continue
        candidates.append((info, ep.load))
    for name, obj in (extra_plugins or {}).items():
        info = PluginInfo(name=name, version=None, module=getattr(obj, "__name__", None), status="loaded")
        candidates.append((info, functools.partial(_same, obj)))

    # First every plugin's config sources, so that register_backbones can be given all of them.
    sources: dict[str, ConfigSource] = {}
    loaded: list[tuple[PluginInfo, Any]] = []
    for info, load in candidates:
        try:
            plugin = _guarded(load, "its import did not finish", limit)
            manager.register(plugin, name=info.name)
        except _Overdue as err:
            fail(info, str(err))
            continue
        except PLUGIN_FAULTS as err:  # a plugin's import may raise anything; it must not break the host
            fail(info, f"could not be loaded: {_described(err)}")
            continue
        try:
            manager.check_pending()
            collect = functools.partial(_collect_sources, manager, plugin, info.name, sources)
            new_sources = _guarded(collect, "register_config_sources did not return", limit)
        except (SpecError, pluggy.PluginValidationError, _Overdue) as err:
            manager.unregister(plugin)
            fail(info, str(err))
            continue
        except PLUGIN_FAULTS as err:
            manager.unregister(plugin)
            fail(info, f"register_config_sources raised {_described(err)}")
            continue
        sources.update((s.name, s) for s in new_sources)
        loaded.append((dataclasses.replace(info, config_sources=tuple(s.name for s in new_sources)), plugin))

    for info, plugin in loaded:
        try:
            collect = functools.partial(_collect_specs, manager, plugin, info.name, MappingProxyType(dict(sources)))  # type: ignore[arg-type, assignment]
            new = _guarded(collect, "register_backbones did not return", limit)
        except PLUGIN_FAULTS as err:  # a SpecError says what is wrong; anything else is the hook's own bug
            manager.unregister(plugin)
            for name in info.config_sources:  # a failed plugin provides nothing
                del sources[name]
            said = isinstance(err, (SpecError, _Overdue))
            error = str(err) if said else f"register_backbones raised {_described(err)}"
            fail(dataclasses.replace(info, config_sources=()), error)
            continue
        for spec in new:
            if spec.name in specs:
                clash(_normalise(spec.name), specs[spec.name], spec)
                continue
            specs[spec.name] = spec
            for key in {_normalise(spec.name), *(_normalise(a) for a in spec.aliases)}:
                if key in index and index[key] != spec.name:
                    clash(key, specs[index[key]], spec)
                else:
                    index[key] = spec.name
        plugins.append(dataclasses.replace(info, backbones=tuple(s.name for s in new)))
    if conflicts and strict:
        raise DuplicateBackboneError("\n".join(conflicts))
    for message in conflicts:
        _warn(f"{message} It is left out; the other backbones work.")
    plugins = [dataclasses.replace(p, conflicts=tuple(sorted(clashing.get(p.name, ())))) for p in plugins]
    return Registry(
        specs=specs,
        plugins=plugins,
        conflicts=conflicts,
        _index=index,
        _manager=manager,
        config_sources=sources,
        _clashes=clashes,
    )


def _incompatibility(dist: Any) -> str | None:
    """Why the plugin's declared ``backbone-zoo`` requirement excludes this core, or ``None``."""
    from packaging.requirements import InvalidRequirement, Requirement

    for line in (dist.requires or []) if dist is not None else []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if _plugin_key(requirement.name) == "backbone-zoo" and not requirement.marker:
            if not requirement.specifier.contains(__version__, prereleases=True):
                return (
                    f"it requires backbone-zoo{requirement.specifier}, but this is {__version__}: "
                    f"install a release of {dist.name} made for backbone-zoo {__version__}"
                )
    return None


def _collect_sources(
    manager: pluggy.PluginManager, plugin: object, plugin_name: str, known: Mapping[str, ConfigSource]
) -> list[ConfigSource]:
    """The plugin's :class:`ConfigSource` records; a name another plugin registered is a :class:`SpecError`."""
    found: list[ConfigSource] = []
    for impl in _impls(manager.hook.register_config_sources, plugin):
        result = impl.function()
        if not isinstance(result, (list, tuple)):
            raise SpecError(
                f"register_config_sources must return a list of zoo.ConfigSource, got {type(result).__name__}"
            )
        for item in result:
            if not isinstance(item, ConfigSource):
                raise SpecError(f"register_config_sources returned {type(item).__name__}, expected zoo.ConfigSource")
            taken = {**known, **{s.name: s for s in found}}.get(item.name)
            if taken is not None:
                raise SpecError(f"config source {item.name!r} is already registered by plugin {taken.plugin!r}")
            found.append(dataclasses.replace(item, plugin=plugin_name))
    return found


def _collect_specs(
    manager: pluggy.PluginManager, plugin: object, plugin_name: str, config_sources: Mapping[str, ConfigSource]
) -> list[BackboneSpec]:
    arguments = {"config_sources": config_sources}  # each implementation gets the ones it declares
    found: list[BackboneSpec] = []
    for impl in _impls(manager.hook.register_backbones, plugin):
        result = impl.function(**{name: arguments[name] for name in impl.argnames})
        if not isinstance(result, (list, tuple)):
            raise SpecError(f"register_backbones must return a list of BackboneSpec, got {type(result).__name__}")
        for item in result:
            if isinstance(item, Mapping):
                item = BackboneSpec.from_dict(item)
            if not isinstance(item, BackboneSpec):
                raise SpecError(f"register_backbones returned {type(item).__name__}, expected zoo.BackboneSpec")
            if item.factory is None:
                raise SpecError(f"backbone {item.name!r} has no factory, so it could never be built")
            watched = _Watched.around(item.factory, item.name, plugin_name)
            found.append(dataclasses.replace(item, plugin=plugin_name, factory=watched))
    return found


def _same(plugin: object) -> object:
    """A plugin given as an object: loading it is having it."""
    return plugin


def _impls(hook: Any, plugin: object) -> list[Any]:
    return [impl for impl in hook.get_hookimpls() if impl.plugin is plugin]


def _conflict(key: str, first: BackboneSpec, second: BackboneSpec) -> str:
    return (
        f"Backbone name {key!r} is declared twice: by plugin {first.plugin!r} ({first.name}) and by plugin "
        f"{second.plugin!r} ({second.name}). Uninstall one of them, or choose the plugins to load with "
        f"{ENV_ALLOW}=name,name."
    )


def _warn(message: str) -> None:
    """A :class:`PluginWarning` that prints as one line (no source line of the zoo, where the user can do nothing)."""
    warnings.warn_explicit(message, PluginWarning, filename="backbone-zoo", lineno=0, module=__name__)


def _described(err: BaseException) -> str:
    """A plugin's exception in one line: ``KeyError: 'x'``, or what a ``sys.exit`` in a plugin did.

    >>> _described(SystemExit(0))
    'SystemExit(0): the plugin tried to end the process'
    """
    if isinstance(err, _Exited):
        return f"os._exit({err.code!r}): the plugin tried to end the process"
    if isinstance(err, SystemExit):
        return f"SystemExit({err.code!r}): the plugin tried to end the process"
    return f"{type(err).__name__}: {err}"


# -- guards around plugin code ----------------------------------------------------------------------


def plugin_timeout() -> float:
    """The seconds a plugin's import, or one of its ``register_*`` hooks, may take: ``ZOO_PLUGIN_TIMEOUT``, or 30.

    A factory that takes longer is named on stderr, and waited for.
    """
    value = os.environ.get(ENV_TIMEOUT, "").strip()
    try:
        seconds = float(value) if value else DEFAULT_TIMEOUT
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise ConfigError(f"{ENV_TIMEOUT} must be a positive number of seconds, got {value!r}: unset it for 30")
    return seconds


class _Overdue(Exception):
    """A plugin's code did not finish within the time limit; its thread is left behind."""

    def __init__(self, what: str, limit: float) -> None:
        super().__init__(f"{what} within {limit:g} s ({ENV_TIMEOUT} sets the limit)")


class _Exited(SystemExit):
    """What ``os._exit(status)`` raises where plugin code runs (:func:`_exits_raise`)."""


_running = threading.local()  # .plugin: whether this thread runs a plugin's code now


def _guarded(function: Callable[[], Any], what: str, limit: float) -> Any:
    """``function()`` in a thread of its own: its result, or what it raised; :class:`_Overdue` after ``limit`` s.

    What it prints goes to stderr (:func:`_plugin_output`). The wait is a safe point for Ctrl-C
    (:func:`zoo.interrupts.check`).
    """
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        _running.plugin = True
        try:
            outcome.append((True, function()))
        except BaseException as err:  # handed to the waiting thread, which decides
            outcome.append((False, err))

    thread = threading.Thread(target=run, name="zoo-plugin", daemon=True)  # daemon: one that hangs cannot hold the exit
    with _plugin_output():
        thread.start()
        deadline = time.monotonic() + limit
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(min(0.1, max(deadline - time.monotonic(), 0)))
            interrupts.check()
    if not outcome:
        raise _Overdue(what, limit)
    done, value = outcome[0]
    if not done:
        raise value
    return value


@contextlib.contextmanager
def _plugin_code() -> Iterator[None]:
    """Meanwhile this thread runs a plugin's hook: what it prints goes to stderr, ``os._exit`` raises."""
    was = getattr(_running, "plugin", False)
    _running.plugin = True
    try:
        with _plugin_output(), _exits_raise():
            yield
    finally:
        _running.plugin = was


@contextlib.contextmanager
def _exits_raise() -> Iterator[None]:
    """Meanwhile ``os._exit`` raises :class:`_Exited` in a thread that runs plugin code (elsewhere it ends the process).

    A plugin's C code that ends the process (``_exit`` through ctypes, a crash) still ends it: only a parent
    process could see that.
    """
    real = os._exit

    def exit_or_raise(status: int) -> None:
        if getattr(_running, "plugin", False):
            raise _Exited(status)
        real(status)

    os._exit = exit_or_raise  # type: ignore[assignment]
    try:
        yield
    finally:
        os._exit = real


class _Unclosable:
    """A stream as plugin code sees it: the same, except that closing it closes nothing."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def close(self) -> None:
        """Leave the zoo's stream open."""


@contextlib.contextmanager
def _plugin_output() -> Iterator[None]:
    """Meanwhile what plugin code prints goes to stderr (stdout carries results alone, ``--json`` too);
    ``sys.stdout`` and ``sys.stderr`` are put back after, whatever the plugin replaced or closed."""
    stdout, stderr = sys.stdout, sys.stderr
    with contextlib.suppress(Exception):
        stdout.flush()
    sys.stdout = sys.stderr = _Unclosable(stderr)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            stderr.flush()
        sys.stdout, sys.stderr = stdout, stderr


@dataclasses.dataclass(frozen=True)
class _Watched:
    """A spec's factory, named on stderr when it has not returned after :func:`plugin_timeout` seconds."""

    factory: Callable[..., Any]
    backbone: str
    plugin: str

    @classmethod
    def around(cls, factory: Callable[..., Any], backbone: str, plugin: str) -> _Watched:
        return cls(factory.factory if isinstance(factory, _Watched) else factory, backbone, plugin)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        limit = plugin_timeout()
        note = (
            f"note: the factory of backbone {self.backbone!r} (plugin {self.plugin!r}) has not returned after "
            f"{limit:g} s; still waiting (a download of weights can take a while; Ctrl-C stops it)"
        )
        timer = threading.Timer(limit, console.say, (note,))
        timer.daemon = True
        timer.start()
        try:
            return self.factory(*args, **kwargs)
        finally:
            timer.cancel()


_SEPARATORS = re.compile(r"[\s._-]+")
_WILDCARDS = re.compile(r"[*?\[\]]")
_CLASSES = re.compile(r"(\[[^\]]*\])")  # fnmatch's [...] sets, left as they are


def _plugin_key(name: str) -> str:
    """A plugin's name (an entry point's or its distribution's, in ``ZOO_PLUGINS`` or a requirement) as the zoo
    compares it: :pep:`503`'s normal form (``packaging.utils.canonicalize_name``), surrounding spaces aside.

    >>> _plugin_key(" Backbone_Zoo.Keras-Hub ")
    'backbone-zoo-keras-hub'
    """
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name.strip()))


def _normalise(name: str) -> str:
    """A backbone name as lookups compare it: lowercase, each run of ``-``, ``_``, ``.`` and spaces one ``_``.

    Not ``canonicalize_name`` (a plugin's name is, :func:`_plugin_key`): spaces separate words of a backbone
    name too, and the ``_`` marks where words start, which :meth:`Registry.suggest` reads.

    >>> _normalise(" ResNet-50.v2 ")
    'resnet_50_v2'
    """
    return _SEPARATORS.sub("_", name.strip().lower())


def _compact(key: str) -> str:
    """A normalised name without separators, so that ``resnet_50`` contains ``resnet50``."""
    return key.replace("_", "")


def _is_pattern(pattern: str) -> bool:
    return bool(_WILDCARDS.search(pattern))


def _matcher(pattern: str) -> Callable[[str], bool]:
    """Whether a normalised name matches ``pattern``: fnmatch with ``*?[``, else a substring, separators aside.

    >>> _matcher("ResNet-5*")("resnet_50_imagenet"), _matcher("resnet50")("resnet_50_imagenet")
    (True, True)
    """
    if _is_pattern(pattern):
        parts = _CLASSES.split(pattern.strip().lower())
        normalised = "".join(p if i % 2 else _SEPARATORS.sub("_", p) for i, p in enumerate(parts))
        return lambda key: fnmatch.fnmatchcase(key, normalised)
    query = _compact(_normalise(pattern))
    return lambda key: query in _compact(key)


# -- block patterns from model files ----------------------------------------------------------------

BLOCK_PATTERN_LIMIT = 200  # characters
# ("char", regex) | ("anchor", regex) | ("seq", nodes) | ("alt", nodes) | ("repeat", node, lo, hi)
_Node = tuple[Any, ...]
_ESCAPES = {"class": "dDwWsS", "anchor": "bBAZ", "control": "afnrtv"}
_BOUNDS = re.compile(r"\{(\d*)(,?)(\d*)\}")
_SYMBOLS = {"*": (0, None), "+": (1, None), "?": (0, 1)}


class _Refusal(Exception):
    """Why a block pattern is outside the bounded language."""


def block_pattern_refusal(pattern: object) -> str | None:
    """Why the zoo will not match ``pattern``, a block pattern from a model file, against layer names; or ``None``.

    Python's ``re`` backtracks: ``(a+)+$`` runs for hours against a long name. So a pattern that is not an
    installed backbone's own must be in a bounded language, where a name costs time linear in its length
    (times the pattern's): characters, classes, ``.``, anchors (``^ $ \\b \\B \\A \\Z``), groups (``(...)``,
    ``(?:...)``, ``(?P<name>...)``) and ``|``; only a character or a class repeats more than once; wherever
    the pattern can go two ways (a repeat ends, alternatives) the next character decides, except at one
    optional part; unless it starts with ``^``, no repeat runs over a character a match can start with.
    At most 200 characters, with a group that names the block.

    >>> block_pattern_refusal(r"^(conv\\d_block\\d+)_") is None
    True
    >>> block_pattern_refusal("(a+)+$")
    'repeats a group (only a character or a class may repeat more than once)'
    """
    if not isinstance(pattern, str):
        return "is not a string"
    if len(pattern) > BLOCK_PATTERN_LIMIT:
        return f"is longer than {BLOCK_PATTERN_LIMIT} characters"
    try:
        groups = re.compile(pattern).groups
    except re.error as err:
        return f"is not a regular expression ({err})"
    if groups < 1:
        return "has no group that names the block"
    try:
        tree, repeated = _parse_pattern(pattern)
        if _check_choices(tree, []) > 1:
            raise _Refusal("has more than one optional part that starts like what follows it")
        if not _anchored(tree) and _overlap(_first(tree), repeated):
            raise _Refusal("can start where one of its repeats runs (start it with ^)")
    except _Refusal as err:
        return str(err)
    return None


def _parse_pattern(pattern: str) -> tuple[_Node, list[str]]:
    """``pattern`` (compiled already) as a tree of the bounded language, and the characters or classes it repeats."""
    at = 0
    repeated: list[str] = []

    def alternatives() -> _Node:
        nonlocal at
        branches = [sequence()]
        while at < len(pattern) and pattern[at] == "|":
            at += 1
            branches.append(sequence())
        return branches[0] if len(branches) == 1 else ("alt", tuple(branches))

    def sequence() -> _Node:
        items = []
        while at < len(pattern) and pattern[at] not in "|)":
            items.append(quantified(atom()))
        return ("seq", tuple(items))

    def atom() -> _Node:
        nonlocal at
        char = pattern[at]
        if char == "(":
            if pattern.startswith("(?P<", at):
                at = pattern.index(">", at) + 1
            elif pattern.startswith("(?:", at):
                at += 3
            elif pattern.startswith("(?", at):
                raise _Refusal("uses lookarounds, flags or conditionals (only (...), (?:...) and (?P<name>...) groups)")
            else:
                at += 1
            inner = alternatives()
            at += 1  # its ")"
            return inner
        if char == "[":
            end = at + 1 + (pattern[at + 1] == "^")
            end += pattern[end] == "]"  # a "]" first is one of the characters
            while pattern[end] != "]":
                end += 2 if pattern[end] == "\\" else 1
            text, at = pattern[at : end + 1], end + 1
            return ("char", text)
        if char == "\\":
            text, at = pattern[at : at + 2], at + 2
            if text[1] in _ESCAPES["anchor"]:
                return ("anchor", text)
            if text[1] in _ESCAPES["class"] + _ESCAPES["control"] or not text[1].isalnum():
                return ("char", text)
            raise _Refusal("uses backreferences or numeric escapes" if text[1].isdigit() else f"uses the escape {text}")
        at += 1
        return ("anchor", char) if char in "^$" else ("char", char)

    def quantified(node: _Node) -> _Node:
        nonlocal at
        bounds = _SYMBOLS.get(pattern[at]) if at < len(pattern) else None
        match = _BOUNDS.match(pattern, at)
        if bounds is not None:
            at += 1
        elif match and (match[1] or match[2]):  # else "{" is a character, as re reads it
            low = int(match[1] or 0)
            bounds, at = (low, int(match[3]) if match[3] else None if match[2] else low), match.end()
        else:
            return node
        at += at < len(pattern) and pattern[at] in "?+"  # lazy, or possessive
        if bounds[1] is None or bounds[1] > 1:
            if node[0] != "char":
                raise _Refusal("repeats a group (only a character or a class may repeat more than once)")
            repeated.append(node[1])
        return ("repeat", node, *bounds)

    return alternatives(), repeated


def _nullable(node: _Node) -> bool:
    """Whether ``node`` can match no character."""
    kind = node[0]
    if kind in ("char", "anchor"):
        return kind == "anchor"
    if kind == "seq":
        return all(map(_nullable, node[1]))
    if kind == "alt":
        return any(map(_nullable, node[1]))
    return node[2] == 0 or _nullable(node[1])


def _first(node: _Node) -> list[str]:
    """The characters or classes that the first character ``node`` matches must match one of."""
    kind = node[0]
    if kind in ("char", "anchor"):
        return [node[1]] if kind == "char" else []
    if kind == "repeat":
        return _first(node[1])
    found: list[str] = []
    for item in node[1]:
        found += _first(item)
        if kind == "seq" and not _nullable(item):
            break
    return found


def _check_choices(node: _Node, follow: list[str]) -> int:
    """Refuse a place where ``node`` (followed by what starts with ``follow``) goes two ways on one character;
    count the optional parts that start like what follows them (the one ambiguity the language allows)."""
    kind, ambiguous = node[0], 0
    if kind == "seq":
        items = node[1]
        for i, item in enumerate(items):
            rest = ("seq", items[i + 1 :])
            ambiguous += _check_choices(item, _first(rest) + (follow if _nullable(rest) else []))
    elif kind == "alt":
        starts = [_first(branch) + (follow if _nullable(branch) else []) for branch in node[1]]
        if sum(map(_nullable, node[1])) > 1 or any(
            _overlap(one, other) for i, one in enumerate(starts) for other in starts[i + 1 :]
        ):
            raise _Refusal("has alternatives that start alike")
        ambiguous += sum(_check_choices(branch, follow) for branch in node[1])
    elif kind == "repeat":
        body, low, high = node[1:]
        if low != high and _nullable(body):
            raise _Refusal("repeats a part that can match nothing")
        if low != high and _overlap(_first(body), follow):
            if high != 1:
                raise _Refusal("can end its repeat where it could go on (what follows must start otherwise)")
            ambiguous += 1
        ambiguous += _check_choices(body, follow)
    return ambiguous


def _anchored(node: _Node) -> bool:
    """Whether every match of ``node`` starts at the start of the name (``^`` or ``\\A`` first)."""
    if node[0] == "anchor":
        return node[1] in ("^", "\\A")
    if node[0] == "seq":
        return bool(node[1]) and _anchored(node[1][0])
    return node[0] == "alt" and all(map(_anchored, node[1]))


def _overlap(first: Sequence[str], second: Sequence[str]) -> bool:
    """Whether one character matches one of ``first`` and one of ``second`` (characters or classes, as regexes)."""
    if not first or not second:
        return False
    for atoms, others in ((first, second), (second, first)):
        chars = [_character(atom) for atom in atoms]
        if None not in chars:  # characters: test them
            other = re.compile("|".join(others))
            return any(other.fullmatch(char) for char in chars)  # type: ignore[arg-type]
    both = f"(?=(?:{'|'.join(first)}))(?:{'|'.join(second)})"
    return re.search(both, _every_character()) is not None


def _character(atom: str) -> str | None:
    """The one character ``atom`` stands for (``a``, ``\\.``), or ``None`` for a class."""
    if len(atom) == 1 and atom != ".":
        return atom
    return atom[1] if len(atom) == 2 and atom[0] == "\\" and not atom[1].isalnum() else None


@functools.cache
def _every_character() -> str:
    """Every code point once: two classes overlap where one character of it matches both."""
    return "".join(map(chr, range(sys.maxunicode + 1)))


def _natural(name: str) -> list[Any]:
    """Sort key that orders numbers by value: ``efficientnet_b2`` before ``efficientnet_b10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, loaded on first use (see :func:`reset`)."""
    global _registry
    if _registry is None:
        _registry = load_registry()
    return _registry


def reset(registry: Registry | None = None) -> None:
    """Forget the loaded registry (or install ``registry``): the next lookup reloads plugins."""
    global _registry
    _registry = registry


def list_backbones(pattern: str = "*", modality: str | None = None) -> list[BackboneSpec]:
    """Specs with a name or alias that matches ``pattern``, sorted by name. Imports no TensorFlow or Keras.

    A pattern with ``*``, ``?`` or ``[`` is an fnmatch pattern; any other is a substring. Case and
    separators (``-``, ``_``, ``.``, spaces) do not count: ``ResNet-50`` finds ``resnet50`` and
    ``resnet_50_imagenet``.

    >>> [s.name for s in list_backbones("efficientnet_b[01]")]
    ['efficientnet_b0', 'efficientnet_b1']
    >>> [s.name for s in list_backbones("MiniLM")]
    ['all_minilm_l6_v2']
    """
    return registry().list(pattern, modality)


def get_spec(name: str) -> BackboneSpec:
    """The spec registered under ``name`` or an alias, case and separators aside (``ResNet-50`` is ``resnet_50``).

    Only an exact name resolves; :class:`UnknownBackboneError` suggests close ones.

    >>> get_spec("ResNet50").name
    'resnet50'
    >>> get_spec("sentence-transformers/all-MiniLM-L6-v2").name  # a Hugging Face id its plugin declares
    'all_minilm_l6_v2'
    """
    return registry().get(name)


def select_backbones(patterns: str | Iterable[str], modality: str | None = None) -> list[BackboneSpec]:
    """The specs named by exact names or fnmatch patterns, in order, each once (what ``zoo rank`` scores).

    >>> [s.name for s in select_backbones(["ResNet50", "efficientnet_b[01]", "resnet50"])]
    ['resnet50', 'efficientnet_b0', 'efficientnet_b1']
    """
    return registry().select(patterns, modality)
