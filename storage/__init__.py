"""redline's database: tables, engine and queries. Imports nothing from tracker or feeds."""

import importlib
from typing import TYPE_CHECKING, Any

# Every name is imported when first named, not with the package: the engine's module
# imports SQLAlchemy (0.2 s) and the tables the ORM (as much again), and a `redline
# check` with nothing to do needs neither (storage/idle.py). Where each name lives:
_HOMES = {
    "storage.db": ("PoolSettings", "ensure_intact", "make_engine", "transaction"),
    "storage.errors": ("DatabaseDamaged", "DatabaseURLError", "SchemaError", "StorageError"),
    "storage.idle": ("DEFAULT_DB_URL", "database_url"),
    "storage.schema": ("ensure_schema", "schema_state", "upgrade"),
    "storage.types": ("MAX_ID", "parse_id", "utcnow"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

if TYPE_CHECKING:
    from storage.db import PoolSettings, ensure_intact, make_engine, transaction
    from storage.errors import DatabaseDamaged, DatabaseURLError, SchemaError, StorageError
    from storage.idle import DEFAULT_DB_URL, database_url
    from storage.models import (
        Change,
        Check,
        Delivery,
        Item,
        ItemAlias,
        ItemMatch,
        ItemSighting,
        Source,
        Subscription,
        ThreadPost,
        Version,
        VersionArchive,
    )
    from storage.schema import ensure_schema, schema_state, upgrade
    from storage.types import MAX_ID, parse_id, utcnow


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'storage' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME_OF.get(name, "storage.models")), name)
    globals()[name] = value  # asked once
    return value


__all__ = [
    "DEFAULT_DB_URL",
    "MAX_ID",
    "Change",
    "DatabaseDamaged",
    "DatabaseURLError",
    "PoolSettings",
    "SchemaError",
    "StorageError",
    "Check",
    "Delivery",
    "Item",
    "ItemAlias",
    "ItemMatch",
    "ItemSighting",
    "Source",
    "Subscription",
    "ThreadPost",
    "Version",
    "VersionArchive",
    "database_url",
    "ensure_intact",
    "ensure_schema",
    "make_engine",
    "parse_id",
    "schema_state",
    "transaction",
    "upgrade",
    "utcnow",
]
