"""New rows for the record path, built without SQLModel's constructor.

A check of a big listing builds hundreds of new versions, changes, aliases and items.
SQLModel's constructor walks every field of the model, asks pydantic for each default and
sets each value through SQLAlchemy's attribute events: 75-100 µs a row, a tenth of a
replayed snapshot by py-spy. new_row makes the same object (the same values and
defaults, the same SQLAlchemy state, ready for `session.add`) by filling its dictionary
at once: 6-9 µs. Table models do not validate on construction, so nothing is skipped
but the walk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic_core import PydanticUndefined
from sqlalchemy.orm import ClassManager, instrumentation
from sqlmodel import SQLModel

Model = TypeVar("Model", bound=SQLModel)


@dataclass(frozen=True)
class _Plan:
    """What a model's new row starts from: its SQLAlchemy class manager, its fields'
    plain defaults, and the factories of the others."""

    manager: ClassManager[Any]
    fields: frozenset[str]
    defaults: dict[str, Any]
    factories: dict[str, Any]


_plans: dict[type[SQLModel], _Plan] = {}


def _plan(model: type[SQLModel]) -> _Plan:
    defaults: dict[str, Any] = {}
    factories: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.default_factory is not None:
            factories[name] = info.default_factory
        elif info.default is not PydanticUndefined:
            # Shared by every row: only values nobody changes in place.
            if not isinstance(info.default, str | int | float | bool | type(None)):
                raise TypeError(f"{model.__name__}.{name}: use a default factory")
            defaults[name] = info.default
    fields = frozenset(model.model_fields)
    return _Plan(instrumentation.manager_of_class(model), fields, defaults, factories)


def new_row(model: type[Model], **values: Any) -> Model:
    """A new, transient row of the table model: `model(**values)`, faster (see above)."""
    plan = _plans.get(model) or _plans.setdefault(model, _plan(model))
    if not plan.fields.issuperset(values):
        unknown = ", ".join(sorted(set(values) - plan.fields))
        raise TypeError(f"{model.__name__} has no field {unknown}")
    row: Model = plan.manager.new_instance()
    state = {**plan.defaults, **values}
    for name, factory in plan.factories.items():
        if name not in values:
            state[name] = factory()
    row.__dict__.update(state)
    # What pydantic's own constructor leaves on a model (model_dump and repr read them).
    object.__setattr__(row, "__pydantic_fields_set__", set(values))
    object.__setattr__(row, "__pydantic_extra__", None)
    object.__setattr__(row, "__pydantic_private__", None)
    return row
