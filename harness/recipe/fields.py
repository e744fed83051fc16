"""Config keys: their type, default and allowed values, and the error a wrong one gets."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import BadInput


class ConfigError(BadInput, ValueError):
    """A config that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Field:
    """One config key: its type, default (None = required) and allowed values."""

    kind: type | tuple
    default: Any = None
    low: Optional[float] = None  # smallest allowed value (inclusive)
    above: Optional[float] = None  # values must be larger than this
    below: Optional[float] = None  # values must be smaller than this
    choices: Optional[tuple] = None
    optional: bool = False  # may be null

    def check(self, where: str, value) -> Any:
        if value is None:
            if self.optional:
                return None
            raise ConfigError(f"{where} is null; expected {self._describe()}")
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise ConfigError(f"{where} is {value!r}; expected {self._describe()}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where} is {value!r}; expected a finite {self._describe()}")
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{where} is {value!r}; expected one of {list(self.choices)}")
        if (self.low is not None and value < self.low or self.above is not None and value <= self.above
                or self.below is not None and value >= self.below):
            raise ConfigError(f"{where} is {value!r}; expected {self._describe()}")
        return value

    def _describe(self) -> str:
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        text = " or ".join(k.__name__ for k in kinds)
        bounds = [f">= {self.low}" if self.low is not None else "", f"> {self.above}" if self.above is not None else "",
                  f"< {self.below}" if self.below is not None else ""]
        if any(bounds):
            text += " " + " and ".join(bound for bound in bounds if bound)
        if self.choices is not None:
            text += f" in {list(self.choices)}"
        return text + (" or null" if self.optional else "")


POSITIVE = dict(low=1)
