"""The public surface: `__all__` is complete and importable."""

from __future__ import annotations

import inspect

import notifhub_async


def test_all_names_resolve() -> None:
    missing = [
        name for name in notifhub_async.__all__ if not hasattr(notifhub_async, name)
    ]
    assert missing == []


def test_all_has_no_duplicates() -> None:
    names = notifhub_async.__all__
    assert len(names) == len(set(names))


def test_every_public_class_and_function_is_exported() -> None:
    defined = {
        name
        for name, value in vars(notifhub_async).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
    }
    assert defined <= set(notifhub_async.__all__)


def test_py_typed_is_shipped() -> None:
    package = inspect.getfile(notifhub_async).rsplit("/", 1)[0]
    with open(f"{package}/py.typed", encoding="utf-8"):
        pass
