"""redline's database: tables, engine and queries. Imports nothing from tracker or feeds."""

from storage.db import DEFAULT_DB_URL, database_url, make_engine, transaction
from storage.models import Change, Check, Item, ItemAlias, ItemMatch, Source, Version
from storage.types import utcnow

__all__ = [
    "DEFAULT_DB_URL",
    "Change",
    "Check",
    "Item",
    "ItemAlias",
    "ItemMatch",
    "Source",
    "Version",
    "database_url",
    "make_engine",
    "transaction",
    "utcnow",
]
