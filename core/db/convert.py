"""Rows → frozen records, by one rule: each field of the record is read from the row's attribute of
the same name, and converted by the field's type. A new column needs a field on the record and
nothing here.

Works on ORM rows, `RETURNING` rows and plain driver rows alike (anything with the attributes).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from core.records import CostRecord, Dataset, Job, MetricPoint, Notification

R = TypeVar("R")
_MISSING = object()


def to_record(cls: type[R], row: Any) -> R:
    """A `cls` (a frozen record dataclass) made from `row`'s attributes of the same names.

    A field the row lacks takes the record's default."""
    try:
        return cast(R, _builder(cast(Hashable, cls))(row))
    except AttributeError:  # a row without every field: read field by field, defaults for the rest
        values = {}
        for name, convert in _converters(cast(Hashable, cls)):
            value = getattr(row, name, _MISSING)
            if value is not _MISSING:
                values[name] = convert(value)
        return cls(**values)


@functools.cache
def _builder(cls: Any) -> Callable[[Any], Any]:
    """`to_record` for a row holding every field, as one generated function: the scheduler makes
    two records a job each cycle (its claim, its update), and the loop of getattr and converter
    calls cost three times this."""
    arguments, namespace = [], {"cls": cls}
    for index, (name, convert) in enumerate(_converters(cls)):
        if convert is _same:
            arguments.append(f"row.{name}")
        else:
            namespace[f"convert{index}"] = convert
            arguments.append(f"convert{index}(row.{name})")
    source = f"def build(row):\n    return cls({', '.join(arguments)})\n"
    exec(source, namespace)  # names are the record's own fields: identifiers, nothing from outside
    return cast(Callable[[Any], Any], namespace["build"])


@functools.cache
def _converters(cls: Any) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((field.name, _converter(hints[field.name])) for field in dataclasses.fields(cls))


def _converter(hint: Any) -> Callable[[Any], Any]:
    """How a column's value becomes the field's: enums by value, JSON objects copied, bools cast."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1
    base = args[0] if optional else hint
    if isinstance(base, type) and issubclass(base, enum.Enum):
        enum_type = base
        return (lambda v: None if v is None else enum_type(v)) if optional else enum_type
    if typing.get_origin(base) is dict or base is dict:
        return lambda v: dict(v or {})
    if typing.get_origin(base) is list or base is list:
        return lambda v: list(v or [])
    if base is bool:
        return lambda v: None if v is None else bool(v)
    return _same


def _same(value: Any) -> Any:
    return value


def to_dataset(row: Any) -> Dataset:
    return to_record(Dataset, row)


def to_job(row: Any) -> Job:
    return to_record(Job, row)


def to_metric_point(row: Any) -> MetricPoint:
    return to_record(MetricPoint, row)


def to_cost_record(row: Any) -> CostRecord:
    return to_record(CostRecord, row)


def to_notification(row: Any) -> Notification:
    return to_record(Notification, row)
