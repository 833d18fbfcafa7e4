"""The schema's version: Alembic migrations create and change it, nothing else.

The migrations live in storage/migrations/versions/, one file per change, and run
from here (no alembic.ini needed by users). A database made before migrations
existed (by create_all) holds exactly the first revision's tables; it is stamped
with that revision, then upgraded like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from storage.errors import SchemaError

# Alembic (with mako and pygments) costs every command 0.1-0.2 s to import; it is only
# needed to migrate, or when the database is not at the head revision.
if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"
FIRST_REVISION = "0001"
# Any fixed number: held for the length of an upgrade, so two processes starting on
# one empty PostgreSQL database do not both create the tables.
_PG_UPGRADE_LOCK = 0x7265646C  # "redl"


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # None: an empty database
    head: str  # the newest revision this code knows
    known: bool  # current is one of this code's revisions (False: the database is newer)

    @property
    def empty(self) -> bool:
        return self.current is None

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, pointing at the packaged migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def schema_state(engine: Engine) -> SchemaState:
    from alembic.script import ScriptDirectory

    with engine.connect() as connection:
        current = _current_revision(connection)
    script = ScriptDirectory.from_config(alembic_config())
    known = current is None or _is_known(script, current)
    return SchemaState(current=current, head=head_revision(), known=known)


def upgrade(
    engine: Engine, target: str = "head", from_models: bool = True
) -> tuple[str | None, str]:
    """Bring the database to target by its migrations, in one transaction; (revision
    before, after).

    An empty database brought to the head is made from the models instead, and stamped
    with the head revision (Alembic's recipe for a new database): running the fifteen
    migrations took 0.47 s, making the tables 0.03 s. tests/test_schema.py checks that both
    make the same schema; from_models=False runs the migrations anyway.
    A concurrent upgrade of the same database waits for this one, then finds nothing to do.
    """
    from alembic import command

    state = schema_state(engine)
    if not state.known:
        raise SchemaError(_newer_message(state))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # SQLite alters a table by copying it and dropping the old one, which the
            # foreign keys of other tables would refuse; they are checked after instead.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            _lock_for_upgrade(connection)
            before = _current_revision(connection)  # again, now that no one else upgrades
            if before is None and target == "head" and from_models:
                _create_from_models(connection)
            else:
                if before is not None and not _has_version_table(connection):
                    command.stamp(alembic_config(connection), FIRST_REVISION)
                command.upgrade(alembic_config(connection), target)
            after = _current_revision(connection)
            if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                raise SchemaError("the upgrade would break references between tables")
            connection.commit()
        finally:
            if sqlite:
                connection.rollback()
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    assert after is not None
    return before, after


def ensure_schema(engine: Engine, create_if_empty: bool = True) -> SchemaState:
    """Make sure the code and the database agree before any work starts.

    An empty database is created (when allowed); an older one or a newer one is refused
    with a SchemaError saying what to do, so nothing is written under the wrong schema.
    """
    head = _head_from_files()
    if head is not None and _stored_revision(engine) == head:
        return SchemaState(current=head, head=head, known=True)  # the usual case: no Alembic
    state = schema_state(engine)
    if state.up_to_date:
        return state
    if not state.known:
        raise SchemaError(_newer_message(state))
    if state.empty and create_if_empty:
        upgrade(engine)
        return schema_state(engine)
    if state.empty:
        raise SchemaError("the database is empty: run `redline db upgrade` to create it")
    raise SchemaError(
        f"the database schema is at revision {state.current}, this redline needs "
        f"{state.head}: run `redline db upgrade` (back up the database first)"
    )


def _create_from_models(connection: Connection) -> None:
    """The newest schema in an empty database: the models' tables, the head stamped."""
    from alembic import command
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401 - the tables, into SQLModel.metadata

    SQLModel.metadata.create_all(connection)
    command.stamp(alembic_config(connection), "head")


def _current_revision(connection: Connection) -> str | None:
    """The database's revision; a pre-migration database (tables, no alembic_version)
    counts as the first revision, and one with neither as empty (None)."""
    from alembic.runtime.migration import MigrationContext

    if _has_version_table(connection):
        return MigrationContext.configure(connection).get_current_revision()
    if inspect(connection).has_table("source"):
        return FIRST_REVISION
    return None


# `revision: str = "0002"` and `down_revision: ... = "0001"` in a migration file.
_REVISION_LINE = re.compile(r"""^(revision|down_revision)\b[^=]*=\s*['"]([^'"]+)['"]""", re.M)


@cache
def _head_from_files() -> str | None:
    """The head revision read from the migration files without importing Alembic; None
    if it is not plain (no single head, a file not read): then Alembic decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text()))
        if "revision" not in found:
            return None
        revisions.add(found["revision"])
        if "down_revision" in found:
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stored_revision(engine: Engine) -> str | None:
    """The revision in alembic_version, read with plain SQL (None: no single one there)."""
    with engine.connect() as connection:
        if not _has_version_table(connection):
            return None
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return rows[0][0] if len(rows) == 1 else None


def _has_version_table(connection: Connection) -> bool:
    return inspect(connection).has_table("alembic_version")


def _is_known(script: ScriptDirectory, revision: str) -> bool:
    return any(r.revision == revision for r in script.walk_revisions())


def _lock_for_upgrade(connection: Connection) -> None:
    """Begin the upgrade's transaction holding the database's one-writer lock."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_UPGRADE_LOCK})")
    elif connection.dialect.name == "sqlite":
        # BEGIN IMMEDIATE takes SQLite's write lock now; the DDL then runs inside it.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _newer_message(state: SchemaState) -> str:
    return (
        f"the database schema (revision {state.current}) is newer than this redline, which "
        f"knows revisions up to {state.head}: upgrade redline to use this database"
    )
