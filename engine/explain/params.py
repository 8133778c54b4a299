"""Parameters declared once, as data: each component is a frozen dataclass whose fields say their range.

A component (segmenter, sampler, perturber, attributer) declares its settings with :func:`number`,
:func:`choice` and :func:`flag`. The same declaration gives the defaults, the validation of user
input (:func:`make`), the JSON form (:func:`describe`) and, in the UI, the controls: nothing about a
parameter is written twice. Components of one kind are collected in a :class:`Catalog` by name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from engine.errors import WorkbenchError


class ConfigError(WorkbenchError):
    """A configuration value is unknown or out of range; the message names the fix."""


@dataclass(frozen=True)
class Param:
    """What a setting is and which values it accepts (the UI builds one control from it).

    ``kind`` is ``"int"``, ``"float"``, ``"choice"`` or ``"bool"``; ``low``/``high`` bound numbers
    (inclusive), ``choices`` lists the allowed strings.
    """

    kind: str
    label: str
    help: str = ""
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()


def number(default: float, low: float, high: float, label: str, help: str = "", integer: bool = False,
           step: float | None = None) -> Any:
    """A numeric dataclass field with an inclusive range."""
    kind = "int" if integer else "float"
    return dataclasses.field(default=default, metadata={"param": Param(kind, label, help, low, high, step)})


def choice(default: str, choices: Sequence[str], label: str, help: str = "") -> Any:
    """A dataclass field taking one of ``choices``."""
    return dataclasses.field(default=default, metadata={"param": Param("choice", label, help, choices=tuple(choices))})


def flag(default: bool, label: str, help: str = "") -> Any:
    """A boolean dataclass field."""
    return dataclasses.field(default=default, metadata={"param": Param("bool", label, help)})


def params_of(component: type | object) -> list[tuple[str, Param, Any]]:
    """``(name, Param, default)`` for every declared setting of a component class or instance."""
    cls = component if isinstance(component, type) else type(component)
    return [(f.name, f.metadata["param"], f.default) for f in dataclasses.fields(cls) if "param" in f.metadata]


def validate_value(where: str, param: Param, value: Any) -> Any:
    """``value`` converted to the parameter's type, or a :class:`ConfigError` naming ``where`` and the range."""
    if param.kind == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, not {value!r}.")
    if param.kind == "choice":
        if value in param.choices:
            return value
        raise ConfigError(f"{where} must be one of {', '.join(param.choices)}; got {value!r}.")
    try:
        number_value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a number, not {value!r}.") from None
    if param.kind == "int":
        if number_value != round(number_value):
            raise ConfigError(f"{where} must be a whole number, not {value!r}.")
        number_value = int(round(number_value))
    if not param.low <= number_value <= param.high:  # type: ignore[operator]
        raise ConfigError(f"{where} must be between {param.low:g} and {param.high:g}; got {value!r}.")
    return number_value


T = TypeVar("T")


class Catalog(Generic[T]):
    """The components of one kind (e.g. all segmenters), by name, in display order."""

    def __init__(self, kind: str, components: Sequence[type[T]]) -> None:
        self.kind = kind
        self.components: dict[str, type[T]] = {c.NAME: c for c in components}  # type: ignore[attr-defined]

    def names(self) -> list[str]:
        """Component names in display order."""
        return list(self.components)

    def get(self, name: str) -> type[T]:
        """The class registered as ``name``."""
        if name not in self.components:
            raise ConfigError(f"Unknown {self.kind} {name!r}; choose one of {', '.join(self.components)}.")
        return self.components[name]

    def make(self, spec: Mapping[str, Any] | str) -> T:
        """Build a component from ``{"name": ..., <param>: value, ...}`` (or just its name), validated.

        Raises:
            ConfigError: unknown name or setting, or a value of the wrong type or out of range.
        """
        if isinstance(spec, str):
            spec = {"name": spec}
        if not isinstance(spec, Mapping) or "name" not in spec:
            raise ConfigError(f"The {self.kind} must be given as {{\"name\": ...}}; got {spec!r}.")
        cls = self.get(str(spec["name"]))
        declared = {name: param for name, param, _ in params_of(cls)}
        values: dict[str, Any] = {}
        for key, value in spec.items():
            if key == "name":
                continue
            if key not in declared:
                allowed = ", ".join(declared) or "no settings"
                raise ConfigError(f"{self.kind} {cls.NAME!r} has no setting {key!r} (it takes {allowed}).")  # type: ignore[attr-defined]
            values[key] = validate_value(f"{self.kind}.{key}", declared[key], value)
        return cls(**values)


def describe(component: object) -> dict[str, Any]:
    """The JSON form of a component: its name and every declared setting (round-trips via ``make``)."""
    values = {name: getattr(component, name) for name, _, _ in params_of(component)}
    return {"name": component.NAME, **values}  # type: ignore[attr-defined]


def title(component: type | object) -> str:
    """A short human name for a component (its ``TITLE``)."""
    cls = component if isinstance(component, type) else type(component)
    return str(getattr(cls, "TITLE", cls.__name__))


class Component:
    """Base of every configurable part: a ``NAME`` for configs and a ``TITLE`` for people."""

    NAME: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""

    def __str__(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in describe(self).items() if k != "name")
        return f"{self.NAME}({settings})"
