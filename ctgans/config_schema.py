"""Typed access to one mapping of a YAML document, with one-line errors.

A :class:`Section` wraps a dict and its key path (``data.mapper``) and source file,
so that every failed check says where it happened, what was expected and what was
received.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from ctgans.exceptions import ConfigError

_EXPONENT_NUMBER = re.compile(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+")


class Section:
    """One mapping of the config, e.g. ``data`` or ``model.critic``."""

    def __init__(self, raw: Any, path: str, source: Path):
        self.path = path
        self.source = source
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(self.message("a mapping", _describe(raw), key=None))
        self.raw = raw

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def keys(self) -> list[str]:
        """The keys present in this section, in file order."""
        return list(self.raw)

    def key_path(self, key: str | None) -> str:
        """``data.mapper.type`` for key ``type`` in section ``data.mapper``."""
        if key is None:
            return self.path or "<top level>"
        return f"{self.path}.{key}" if self.path else str(key)

    def message(self, expected: str, received: str, key: str | None = None) -> str:
        """One line: key path, expected, received, file."""
        return (
            f"`{self.key_path(key)}` must be {expected}; received {received} "
            f"({self.source})"
        )

    def allow(self, *allowed: str) -> None:
        """Reject keys that are not in ``allowed``, listing the allowed ones."""
        for key in self.raw:
            if key not in allowed:
                raise ConfigError(
                    f"unknown key `{self.key_path(key)}` ({self.source}); "
                    f"allowed keys: {', '.join(allowed)}"
                )

    def _get(self, key: str, default: Any, required: bool) -> Any:
        if self.raw.get(key) is None:
            if required:
                raise ConfigError(f"missing key `{self.key_path(key)}` ({self.source})")
            return default
        return self.raw[key]

    def section(self, key: str, required: bool = False) -> Section:
        """The sub-mapping under ``key`` (empty when absent and not required)."""
        value = self._get(key, None, required)
        return Section(value, self.key_path(key), self.source)

    def integer(
        self, key, default=None, minimum=None, maximum=None, required=False
    ) -> int | None:
        """An integer within [minimum, maximum]."""
        value = self._get(key, default, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(self.message("an integer", _describe(value), key))
        self._check_range(key, value, minimum, maximum, "an integer")
        return value

    def number(
        self, key, default=None, minimum=None, maximum=None, required=False
    ) -> float | None:
        """A finite real number within [minimum, maximum]."""
        value = self._get(key, default, required)
        if value is None:
            return None
        if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
            # YAML 1.1 reads 2e-4 (no dot) as text; it is meant as a number.
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(self.message("a number", _describe(value), key))
        if not math.isfinite(value):
            raise ConfigError(self.message("a finite number", repr(value), key))
        self._check_range(key, value, minimum, maximum, "a number")
        return float(value)

    def _check_range(self, key, value, minimum, maximum, kind) -> None:
        if (
            minimum is not None
            and value < minimum
            or (maximum is not None and value > maximum)
        ):
            low = "-inf" if minimum is None else minimum
            high = "inf" if maximum is None else maximum
            raise ConfigError(
                self.message(f"{kind} in [{low}, {high}]", repr(value), key)
            )

    def boolean(self, key, default=None, required=False) -> bool | None:
        """``true`` or ``false``."""
        value = self._get(key, default, required)
        if value is not None and not isinstance(value, bool):
            raise ConfigError(self.message("true or false", _describe(value), key))
        return value

    def auto_or_boolean(self, key) -> str:
        """``auto`` (the default), ``true`` or ``false``, returned as that word."""
        value = self._get(key, "auto", False)
        if isinstance(value, bool):
            return "true" if value else "false"
        if value != "auto":
            raise ConfigError(
                self.message("auto, true or false", _describe(value), key)
            )
        return value

    def string(self, key, default=None, required=False) -> str | None:
        """A non-empty string."""
        value = self._get(key, default, required)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise ConfigError(self.message("a non-empty string", _describe(value), key))
        return value

    def choice(self, key, allowed, default=None, required=False) -> str | None:
        """One of ``allowed``."""
        value = self._get(key, default, required)
        if value is not None and value not in allowed:
            raise ConfigError(
                self.message(f"one of {', '.join(allowed)}", _describe(value), key)
            )
        return value

    def list(self, key, default=None, required=False) -> list | None:
        """A YAML list (a lone scalar is not accepted)."""
        value = self._get(key, default, required)
        if value is not None and not isinstance(value, list):
            raise ConfigError(self.message("a list", _describe(value), key))
        return value

    def string_list(self, key, default=None, required=False) -> list[str] | None:
        """A list of non-empty strings."""
        values = self.list(key, default, required)
        if values is None:
            return None
        for value in values:
            if not isinstance(value, str) or not value:
                raise ConfigError(
                    self.message("a list of strings", f"item {_describe(value)}", key)
                )
        return values

    def integer_list(self, key, default=None, minimum=None) -> list[int] | None:
        """A list of integers, each >= minimum."""
        values = self.list(key, default)
        if values is None:
            return None
        for value in values:
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or (minimum is not None and value < minimum)
            ):
                raise ConfigError(
                    self.message(
                        f"a list of integers >= {minimum}",
                        f"item {_describe(value)}",
                        key,
                    )
                )
        return values

    def number_list(self, key, default=None, minimum=None, maximum=None):
        """A list of numbers, each in [minimum, maximum]."""
        values = self.list(key, default)
        if values is None:
            return None
        low = "-inf" if minimum is None else minimum
        high = "inf" if maximum is None else maximum
        for value in values:
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (minimum is not None and value < minimum)
                or (maximum is not None and value > maximum)
            ):
                raise ConfigError(
                    self.message(
                        f"a list of numbers in [{low}, {high}]",
                        f"item {_describe(value)}",
                        key,
                    )
                )
        return [float(v) for v in values]

    def choice_list(self, key, allowed, default=None) -> list[str]:
        """A non-empty list of distinct items from ``allowed``."""
        values = self.list(key, default)
        if not values:
            raise ConfigError(
                self.message(f"a non-empty list from {', '.join(allowed)}", "[]", key)
            )
        for value in values:
            if value not in allowed:
                raise ConfigError(
                    self.message(
                        f"a list from {', '.join(allowed)}",
                        f"item {_describe(value)}",
                        key,
                    )
                )
        if len(set(values)) != len(values):
            raise ConfigError(self.message("distinct items", repr(values), key))
        return values


def _describe(value: Any) -> str:
    """``'abc' (str)`` — the value and its YAML-ish type, for messages."""
    kind = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "mapping",
        type(None): "null",
    }.get(type(value), type(value).__name__)
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({kind})"
