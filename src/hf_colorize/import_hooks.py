"""Import on demand: post-import hooks and lazy module attributes.

``import hf_colorize`` registers the families with transformers' Auto classes and the pipeline task only once the
transformers modules those registrations need have been imported (:func:`when_imported`), and the families'
classes load on first use (:func:`lazy_attributes`), so importing the package itself costs almost nothing.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
import threading
from collections.abc import Callable, Sequence

Hook = Callable[[], None]

_pending: list[tuple[tuple[str, ...], tuple[str, ...], Hook]] = []
_lock = threading.RLock()


def _state(name: str, finished: str | None = None) -> str:
    """``"done"``, ``"loading"`` (its import has started and not ended) or ``"absent"``."""
    if name == finished:
        return "done"
    module = sys.modules.get(name)
    if module is None:
        return "absent"
    return "loading" if getattr(getattr(module, "__spec__", None), "_initializing", False) else "done"


def _is_ready(entry: tuple, finished: str | None) -> bool:
    triggers, dependencies, _ = entry
    return all(_state(name, finished) == "done" for name in triggers) and all(
        _state(name, finished) != "loading" for name in dependencies
    )


def _run_ready_hooks(finished: str | None = None) -> None:
    with _lock:
        ready = [entry for entry in _pending if _is_ready(entry, finished)]
        for entry in ready:
            _pending.remove(entry)
    for _, _, hook in ready:
        hook()


class _HookedLoader(importlib.abc.Loader):
    """Loads a module with its own loader, then runs the hooks that were waiting for it."""

    def __init__(self, loader: importlib.abc.Loader, name: str):
        self.loader = loader
        self.name = name

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        _run_ready_hooks(finished=self.name)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Finds the awaited modules with the other finders and wraps their loader."""

    def find_spec(self, name, path, target=None):
        with _lock:
            awaited = any(name in triggers or name in dependencies for triggers, dependencies, _ in _pending)
        if not awaited:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _HookedLoader(spec.loader, name)
                return spec
        return None


_FINDER = _PostImportFinder()


def when_imported(triggers: Sequence[str], hook: Hook, dependencies: Sequence[str] = ()) -> None:
    """Call ``hook()`` once every module of ``triggers`` has been imported completely (at once if they have), and
    no module of ``dependencies`` (which the hook imports) is half-way through its import: the hook then waits
    for it to end, so that it never sees a partly initialised module."""
    with _lock:
        _pending.append((tuple(triggers), tuple(dependencies), hook))
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)
    _run_ready_hooks()


def lazy_attributes(package: str, structure: dict[str, Sequence[str]]) -> tuple[Callable, list[str]]:
    """A module ``__getattr__`` that imports ``package.<submodule>`` when one of its names is first used, and
    the list of those names (for ``__all__``). ``structure`` maps each submodule to the names it defines."""
    owner = {name: submodule for submodule, names in structure.items() for name in names}

    def __getattr__(name: str):
        if name not in owner:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{owner[name]}", package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__, list(owner)
