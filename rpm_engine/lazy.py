"""A package whose public names are imported on first use (PEP 562): importing it costs only what is used."""

from __future__ import annotations

import importlib
import sys
import types


class _LazyPackage(types.ModuleType):
    """Keeps an exported name bound to its object: importing a submodule of the same name (``rpm_engine.train``,
    the module, beside ``rpm_engine.train``, the function) would otherwise rebind the package attribute."""

    _exports: dict[str, str] = {}

    def __getattr__(self, name: str):
        module = self._exports.get(name)
        if module is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", self.__name__), name)
        vars(self)[name] = value  # once: later lookups do not come here
        return value

    def __dir__(self) -> list[str]:
        return sorted(set(vars(self)) | set(self._exports))

    def __setattr__(self, name: str, value) -> None:
        if name in self._exports and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


def lazy_package(name: str, exports: dict[str, str]) -> list[str]:
    """Make package ``name`` import each name of ``exports`` from the submodule it maps to on first use; returns
    the sorted names, for ``__all__``."""
    package = sys.modules[name]
    vars(package)["_exports"] = exports
    package.__class__ = _LazyPackage
    return sorted(exports)
