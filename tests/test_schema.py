"""The schema is made and changed only by migrations, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Date, DateTime, MetaData, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from storage import Source, make_engine, schema_state, stored_diff, transaction, upgrade
from storage.schema import _head_from_files, alembic_config, head_revision
from storage.types import UTCDateTime
from tests.databases import Backend
from tracker.fetch.client import make_client
from tracker.run.check import check_source
from tracker.run.sources import add_source

from .conftest import Site, offstream_page, redline_command, run_main

PAGE = "seeds/000_0c411d6d2d5ef8ba.txt"
ROWS_0001 = Path(__file__).parent / "fixtures" / "schema" / "0001-rows.json"


@pytest.fixture
def empty_url(backend: Backend) -> Iterator[str]:
    url = backend.create("empty")
    yield url
    backend.drop(url)


@pytest.fixture
def empty_engine(empty_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_url)
    yield engine
    engine.dispose()


def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`redline --db URL ARGS`, through tracker.cli.main as the `cli` fixture runs it."""
    done = run_main(["--db", url, *args], dict(os.environ))
    return subprocess.CompletedProcess(args, done.code, done.stdout, done.stderr)


def test_migrations_make_exactly_the_tables_the_code_declares(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}),
            SQLModel.metadata,
        )
    assert differences == []


def test_every_migration_downgrades_and_upgrades_again(empty_engine: Engine) -> None:
    upgrade(empty_engine)  # a new database: made from the models
    with empty_engine.connect() as connection:
        command.downgrade(alembic_config(connection), "base")
        connection.commit()
    assert schema_state(empty_engine).empty
    assert upgrade(empty_engine, from_models=False) == (None, head_revision())


def test_a_new_database_made_from_the_models_is_the_migrations_schema(
    engine: Engine, empty_engine: Engine
) -> None:
    """A new database gets the models' tables and the head revision stamped, not fifteen
    migrations run: it must be the very schema the migrations make (`engine` is made by
    them), down to defaults, indexes and references; only column order may differ."""
    assert upgrade(empty_engine) == (None, head_revision())
    assert schema_state(empty_engine).up_to_date
    assert _schema_of(empty_engine) == _schema_of(engine)


def _schema_of(engine: Engine) -> dict[str, Any]:
    found = inspect(engine)
    return {
        table: {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in found.get_columns(table)
            ),
            "primary key": found.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
            "references": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in found.get_foreign_keys(table)
            ),
        }
        for table in sorted(found.get_table_names())
    }


def test_any_command_creates_an_empty_database(empty_url: str) -> None:
    done = run(empty_url, "sources")
    assert done.returncode == 0, done.stderr
    status = run(empty_url, "db", "status")
    assert status.returncode == 0
    assert f"revision {head_revision()} (the newest)" in status.stdout


def test_db_upgrade_on_an_empty_database_and_again(empty_url: str) -> None:
    first = run(empty_url, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert f"upgraded from empty to revision {head_revision()}" in first.stdout
    again = run(empty_url, "db", "upgrade")
    assert f"already at revision {head_revision()}" in again.stdout


def test_an_older_database_is_refused_until_db_upgrade(empty_url: str) -> None:
    engine = make_engine(empty_url)
    upgrade(engine, "0001")
    engine.dispose()

    refused = run(empty_url, "add", "https://example.org/a.md")
    assert refused.returncode == 2
    assert "schema is at revision 0001" in refused.stderr
    assert "redline db upgrade" in refused.stderr
    assert run(empty_url, "db", "status").returncode == 1

    assert run(empty_url, "db", "upgrade").returncode == 0
    added = run(empty_url, "add", "https://example.org/a.md")
    assert added.returncode == 0, added.stderr


def test_a_newer_database_is_refused_and_left_alone(db_url: str, engine: Engine) -> None:
    with transaction(engine) as session:
        add_source(session, "https://example.org/kept.md")
        session.exec(text("UPDATE alembic_version SET version_num = '9999'"))  # type: ignore[call-overload]

    for args in (("sources",), ("add", "https://example.org/new.md"), ("db", "upgrade")):
        done = run(db_url, *args)
        assert done.returncode == 2, args
        assert "newer than this redline" in done.stderr
        assert "Traceback" not in done.stderr

    with transaction(engine) as session:
        urls = [s.url for s in session.exec(select(Source)).scalars()]  # type: ignore[call-overload]
        version = session.exec(text("SELECT version_num FROM alembic_version")).one()  # type: ignore[call-overload]
    assert urls == ["https://example.org/kept.md"]
    assert version == ("9999",)


def test_two_processes_creating_one_empty_database_both_succeed(empty_url: str) -> None:
    # Two services started together on a new database (say `redline run` and `redline
    # serve` as two systemd units): the second waits for the first's upgrade.
    processes = [
        subprocess.Popen(
            [*redline_command(), "--db", empty_url, "db", "upgrade"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    said = sorted(out.split(": schema ", 1)[1].split(" ")[0] for out, _ in outputs)
    assert said == ["already", "already", "upgraded"]


# Upgrading a database that holds data: the rows a 0001 database held (made by redline
# at that revision, see fixtures/schema/README.md) are all there, unchanged, afterwards.


def load_rows(engine: Engine, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Insert the rows through the database's own (reflected) tables, as stored values."""
    tables = MetaData()
    tables.reflect(engine)
    with engine.begin() as connection:
        for name, records in rows.items():
            table = tables.tables[name]
            if records:
                connection.execute(table.insert(), [_typed(table, r) for r in records])
            if engine.dialect.name == "postgresql" and records:
                # Rows came with their ids: move the id sequence past them, as a live
                # database's would be.
                connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), :top)"),
                    {"top": max(r["id"] for r in records)},
                )


def dump_rows(engine: Engine, like: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict]]:
    """Every row of the tables `like` has, in its JSON shapes and with its columns (later
    revisions add columns), ordered by id. Read through today's tables, whose types know
    how each value is stored now (SQLite's times as integers since 0014)."""
    dumped: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as connection:
        for name, rows in like.items():
            table = SQLModel.metadata.tables[name]
            columns = [table.c[column] for column in rows[0]] if rows else [table.c.id]
            result = connection.execute(select(*columns).order_by(table.c.id))
            dumped[name] = [_plain(table, dict(row._mapping)) for row in result]
    return dumped


def stored_now(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The rows as the head revision keeps them: the same values, but for each change's
    diff, whose unchanged runs are lengths read back from its from-version (0016)."""
    versions = {v["id"]: SimpleNamespace(**v) for v in rows["version"]}
    changes = [
        {**c, "diff": stored_diff.pack(c["diff"], versions.get(c["from_version_id"]))}
        if c["diff"]
        else c
        for c in rows["change"]
    ]
    return {**rows, "change": changes}


def _typed(table: Any, record: dict[str, Any]) -> dict[str, Any]:
    values = dict(record)
    for column in table.columns:
        value = values.get(column.name)
        if isinstance(value, str) and isinstance(column.type, DateTime):
            values[column.name] = datetime.fromisoformat(value)
        elif isinstance(value, str) and isinstance(column.type, Date):
            values[column.name] = date.fromisoformat(value)
    return values


def _plain(table: Any, record: dict[str, Any]) -> dict[str, Any]:
    for column in table.columns:
        if column.name not in record:
            continue
        value = record[column.name]
        if isinstance(value, datetime):  # stored as naive UTC, read back aware
            record[column.name] = value.replace(tzinfo=None).isoformat()
        elif isinstance(value, date):
            record[column.name] = value.isoformat()
        elif isinstance(value, str) and isinstance(column.type, JSON):
            record[column.name] = json.loads(value)
    return record


def test_upgrading_a_filled_0001_database_keeps_every_row(
    empty_url: str, empty_engine: Engine, site: Site
) -> None:
    rows = json.loads(ROWS_0001.read_text(encoding="utf-8"))
    upgrade(empty_engine, "0001")
    load_rows(empty_engine, rows)

    done = run(empty_url, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert f"from 0001 to revision {head_revision()}" in done.stdout
    sqlite = empty_engine.dialect.name == "sqlite"
    vacuum = "sqlite3 " if sqlite else "VACUUM FULL"
    shrunk = "times, hashes and diffs" if sqlite else "hashes and diffs"
    assert f"{shrunk} take less space now" in done.stdout and vacuum in done.stdout
    assert dump_rows(empty_engine, rows) == stored_now(rows)

    # And the tracker goes on writing to it: ids continue after the old rows.
    with transaction(empty_engine) as session:
        source, _ = add_source(session, site.publish("/new.md", offstream_page(PAGE)))
    assert source.id == max(r["id"] for r in rows["source"]) + 1
    with make_client() as client:  # only the new source: the old ones name real sites
        result = check_source(empty_engine, source.id, client)
    assert result.outcome == "changed", result.error


def test_a_database_made_before_migrations_is_adopted(empty_url: str, empty_engine: Engine) -> None:
    # redline 0.1 made its tables with create_all and kept no alembic_version.
    rows = json.loads(ROWS_0001.read_text(encoding="utf-8"))
    upgrade(empty_engine, "0001")
    load_rows(empty_engine, rows)
    with empty_engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    assert schema_state(empty_engine).current == "0001"

    done = run(empty_url, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert schema_state(empty_engine).up_to_date
    assert dump_rows(empty_engine, rows) == stored_now(rows)


def test_the_head_read_from_the_migration_files_is_alembics() -> None:
    assert _head_from_files() == head_revision()


def test_a_current_database_is_checked_without_importing_alembic(db_url: str) -> None:
    # Alembic (with mako, pygments) is imported only to migrate or to explain a mismatch.
    script = (
        "import sys\n"
        "from storage import ensure_schema, make_engine\n"
        f"state = ensure_schema(make_engine({db_url!r}))\n"
        "print(state.up_to_date, 'alembic' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.split() == ["True", "False"], done.stderr


def test_0005_marks_listed_items_and_takes_credentials_out_of_item_urls(
    empty_engine: Engine,
) -> None:
    """Items of a source learned to be a listing are listed ones; an item or version URL
    stored with a source's user:password@ (a relative link on a page behind a password)
    keeps it no longer."""
    rows = json.loads(ROWS_0001.read_text(encoding="utf-8"))
    upgrade(empty_engine, "0004")
    item = rows["item"][0]
    version = next(v for v in rows["version"] if v["item_id"] == item["id"])
    source = next(s for s in rows["source"] if s["id"] == item["source_id"])
    item["url"] = version["url"] = "https://reader:S3cret@news.example/a?x=1"
    version["check_id"] = None
    load_rows(empty_engine, {"source": [source], "item": [item], "version": [version]})
    with empty_engine.begin() as connection:
        connection.execute(text("UPDATE source SET listing = TRUE"))

    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        item_url, listed = connection.execute(text("SELECT url, listed FROM item")).one()
        [version_url] = connection.execute(text("SELECT url FROM version")).scalars()
    assert item_url == version_url == "https://news.example/a?x=1"
    assert listed


def test_0006_gives_sources_their_site_and_db_upgrade_merges_a_sites_duplicates(
    empty_url: str, empty_engine: Engine
) -> None:
    """Every item gets a sighting by its source (listed and removed as the item was);
    every source its site; and the items two sources of one site recorded apart under
    one URL become one, logged (as a database from before items belonged to sites holds
    an article that two item-page sources of a site recorded)."""
    rows = json.loads(ROWS_0001.read_text(encoding="utf-8"))
    upgrade(empty_engine, "0005")
    load_rows(empty_engine, rows)
    first = rows["item"][0]
    twin = {**first, "id": 11, "source_id": 4, "key": "twin", "version_count": 1}
    version = next(v for v in rows["version"] if v["item_id"] == first["id"])
    later = {**version, "id": 13, "item_id": 11, "n": 1, "check_id": None}
    source = {**rows["source"][0], "id": 4, "url": rows["source"][0]["url"] + "?moved"}
    alias = next(a for a in rows["itemalias"] if a["item_id"] == first["id"] and a["kind"] == "url")
    load_rows(
        empty_engine,
        {
            "source": [source],
            "item": [twin],
            "version": [later],
            "itemalias": [{**alias, "id": 23, "item_id": 11, "source_id": 4}],
        },
    )
    with empty_engine.begin() as connection:
        connection.execute(text("UPDATE source SET listing = FALSE WHERE id IN (1, 4)"))
        connection.execute(text("UPDATE source SET listing = TRUE WHERE id = 2"))

    done = run(empty_url, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert "1 item merged into another of its site" in done.stdout
    with empty_engine.connect() as connection:
        sites = connection.execute(text("SELECT DISTINCT site FROM source")).scalars().all()
        sightings = connection.execute(
            text("SELECT item_id, source_id FROM itemsighting ORDER BY item_id, source_id")
        ).all()
        items = connection.execute(text("SELECT id FROM item ORDER BY id")).scalars().all()
        logged = (
            connection.execute(text("SELECT method FROM itemmatch WHERE item_id = 1"))
            .scalars()
            .all()
        )
    assert sites == ["offstream.news"]
    assert items == list(range(1, 11))  # the twin is merged into item 1
    expected = sorted([(i["id"], i["source_id"]) for i in rows["item"]] + [(1, 4)])
    assert [tuple(row) for row in sightings] == expected
    assert any("two sources of a site name it" in method for method in logged)


def test_0007_makes_minor_edits_style_and_rejudge_gives_every_edit_its_reasons(
    empty_url: str, empty_engine: Engine
) -> None:
    """Stored minor edits become style, substantive ones stay substantive, with no score
    or reasons until `redline db rejudge` judges them again from their versions."""
    rows = json.loads(ROWS_0001.read_text(encoding="utf-8"))
    upgrade(empty_engine, "0005")
    for change in rows["change"]:
        if change["id"] == 3:
            change["classification"] = "minor"
    load_rows(empty_engine, rows)

    upgrade(empty_engine)
    query = text(
        "SELECT id, classification, score, reasons FROM change WHERE kind = 'edited' ORDER BY id"
    )
    with empty_engine.connect() as connection:
        before = {row[0]: row[1:] for row in connection.execute(query)}
    assert before == {2: ("substantive", None, None), 3: ("style", None, None)}

    done = run(empty_url, "db", "rejudge")
    assert done.returncode == 0, done.stderr
    assert "judged differently now" in done.stdout
    with empty_engine.connect() as connection:
        after = {row[0]: row[1:] for row in connection.execute(query)}
    classification, score, reasons = after[2]
    assert classification == "substantive" and 0.6 <= score <= 1
    reasons = json.loads(reasons) if isinstance(reasons, str) else reasons
    assert "headline: number removed: 2017" in reasons
    assert all(row[1] is not None for row in after.values())
    with empty_engine.connect() as connection:  # feeds carrying it changed: Last-Modified
        stored = connection.execute(text("SELECT stored_at FROM change WHERE id = 2")).scalar()
    assert stored is not None
    again = run(empty_url, "db", "rejudge")
    assert "0 edits judged differently now" in again.stdout


def test_0009_keeps_a_section_pages_url_as_a_hub_page_and_back(empty_engine: Engine) -> None:
    """The URL alias of an item known by a section page and a headline becomes a hub-page
    alias (it names no one story); an article's URL alias, and a URL ending in a slash
    that is an article's own, stay URL aliases; a downgrade puts them back."""
    rows = json.loads(ROWS_0001.read_text(encoding="utf-8"))
    upgrade(empty_engine, "0008")
    load_rows(empty_engine, rows)
    first, second = rows["item"][0], rows["item"][1]
    section = "https://offstream.news/politics/"
    aliases = [
        (first["id"], first["source_id"], "hub", f"{section} minister quits"),
        (first["id"], first["source_id"], "url", section),
        (second["id"], second["source_id"], "hub", "sha256:" + "0" * 64),  # a long one
        (second["id"], second["source_id"], "url", "https://offstream.news/world/"),
        (second["id"], second["source_id"], "url", "https://offstream.news/world/story"),
        (first["id"], first["source_id"], "url", "https://offstream.news/live/"),
    ]
    with empty_engine.begin() as connection:
        connection.execute(text("DELETE FROM itemalias"))
        for number, (item_id, source_id, kind, value) in enumerate(aliases, start=1):
            connection.execute(
                text("INSERT INTO itemalias VALUES (:id, :item, :source, :kind, :value)"),
                {"id": number, "item": item_id, "source": source_id, "kind": kind, "value": value},
            )
    query = text("SELECT value, kind FROM itemalias WHERE kind != 'hub' ORDER BY id")

    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        upgraded = dict(connection.execute(query).all())
    assert upgraded == {
        section: "hubpage",
        "https://offstream.news/world/": "hubpage",
        "https://offstream.news/world/story": "url",
        "https://offstream.news/live/": "url",  # no hub alias of this item names it
    }

    with empty_engine.connect() as connection:
        command.downgrade(alembic_config(connection), "0008")
        connection.commit()
        assert set(dict(connection.execute(query).all()).values()) == {"url"}


def _stored(
    engine: Engine, table: str, columns: tuple[str, ...], order: str = "id"
) -> list[tuple[Any, ...]]:
    """The values as the database holds them, with SQLite's storage class of each."""
    sqlite = engine.dialect.name == "sqlite"
    shown = ", ".join(
        f'"{c}", typeof("{c}")' if sqlite else f'CAST("{c}" AS TEXT)' for c in columns
    )
    with engine.connect() as connection:
        return list(connection.execute(text(f'SELECT {shown} FROM "{table}" ORDER BY {order}')))


def test_0014_keeps_sqlite_times_as_integers_and_json_nulls_as_null_and_back(
    empty_engine: Engine,
) -> None:
    """Every time of a filled database reads back the same after 0014 (on SQLite now an
    integer, whatever text form it had), no JSON column holds the text 'null', and a
    downgrade gives back the very text that was there."""
    rows = json.loads(ROWS_0001.read_text(encoding="utf-8"))
    upgrade(empty_engine, "0013")
    load_rows(empty_engine, rows)
    odd = "2018-02-02T18:30:19+00:00"  # not SQLAlchemy's form: written by hand
    with empty_engine.begin() as connection:
        connection.execute(text("UPDATE version SET reported_at = :odd WHERE id = 1"), {"odd": odd})
    times = ("observed_at", "last_observed_at", "reported_at")
    before = _stored(empty_engine, "version", times)
    nulls = "SELECT count(*) FROM version WHERE CAST(tags AS TEXT) = 'null'"
    with empty_engine.connect() as connection:
        assert connection.execute(text(nulls)).scalar() > 0  # the 0001 rows hold some

    upgrade(empty_engine)
    version = SQLModel.metadata.tables["version"]
    with empty_engine.connect() as connection:
        read = connection.execute(select(*(version.c[t] for t in times)).order_by(version.c.id))
        now = [tuple(v.replace(tzinfo=None) if v else None for v in row) for row in read]
        assert connection.execute(text(nulls)).scalar() == 0
        assert connection.execute(select(version.c.tags).where(version.c.id == 1)).scalar() is None
    sqlite = empty_engine.dialect.name == "sqlite"
    written = [tuple(row[0::2] if sqlite else row) for row in before]
    assert now == [
        tuple(datetime.fromisoformat(v).replace(tzinfo=None) if v else None for v in row)
        for row in written
    ]
    assert now[0][2] == datetime(2018, 2, 2, 18, 30, 19)
    if sqlite:  # every time of every table, not only the version's
        for table in SQLModel.metadata.sorted_tables:
            times_of = tuple(c.name for c in table.columns if isinstance(c.type, UTCDateTime))
            stored = _stored(empty_engine, table.name, times_of, "rowid") if times_of else []
            assert {kind for row in stored for kind in row[1::2]} <= {"integer", "null"}

    with empty_engine.connect() as connection:
        command.downgrade(alembic_config(connection), "0013")
        connection.commit()
    back = _stored(empty_engine, "version", times)
    if sqlite:  # SQLAlchemy's own form again; the hand-written one in that form too
        assert back[1:] == before[1:]
        assert back[0][4] == "2018-02-02 18:30:19.000000"
    else:
        assert back == before
    with empty_engine.connect() as connection:
        assert connection.execute(text(nulls)).scalar() > 0


def test_0015_keeps_hashes_as_bytes_and_an_alias_once_per_source(empty_engine: Engine) -> None:
    """A version's hash is stored as its 32 bytes and read back as the same hex; an
    alias is still refused twice for one source (one index now), and allowed for
    another; a downgrade gives the hex text back."""
    rows = json.loads(ROWS_0001.read_text(encoding="utf-8"))
    upgrade(empty_engine, "0014")
    load_rows(empty_engine, rows)
    hashes = [v["content_hash"] for v in rows["version"]]
    size = "octet_length" if empty_engine.dialect.name == "postgresql" else "length"
    stored = text(f"SELECT {size}(content_hash) FROM version ORDER BY id")

    upgrade(empty_engine)
    version, alias = (SQLModel.metadata.tables[t] for t in ("version", "itemalias"))
    with empty_engine.connect() as connection:
        read = connection.execute(select(version.c.content_hash).order_by(version.c.id))
        assert [h for (h,) in read] == hashes
        assert {n for (n,) in connection.execute(stored)} == {32}
    first = rows["itemalias"][0]
    twice = {k: first[k] for k in ("item_id", "source_id", "kind", "value")}
    with pytest.raises(IntegrityError), empty_engine.begin() as connection:
        connection.execute(alias.insert(), twice)
    other_source = rows["source"][-1]["id"]
    assert other_source != first["source_id"]
    with empty_engine.begin() as connection:
        connection.execute(alias.insert(), {**twice, "source_id": other_source})

    with empty_engine.connect() as connection:
        command.downgrade(alembic_config(connection), "0014")
        connection.commit()
        back = connection.execute(text("SELECT content_hash FROM version ORDER BY id"))
        assert [h for (h,) in back] == hashes


def _diffs(engine: Engine) -> dict[int, Any]:
    change = SQLModel.metadata.tables["change"]
    with engine.connect() as connection:
        read = connection.execute(select(change.c.id, change.c.diff).order_by(change.c.id))
        return {row.id: row.diff for row in read}


def test_0016_keeps_a_diffs_unchanged_runs_as_lengths_and_back(
    empty_url: str, empty_engine: Engine
) -> None:
    """A filled database's stored diffs keep their unchanged runs as lengths after 0016,
    and read back whole from the versions they lead from; a downgrade gives back the very
    diffs that were there."""
    rows = json.loads(ROWS_0001.read_text(encoding="utf-8"))
    upgrade(empty_engine, "0014")
    load_rows(empty_engine, rows)
    upgrade(empty_engine, "0015")
    whole = _diffs(empty_engine)
    edits = {c["id"]: c["from_version_id"] for c in rows["change"] if whole[c["id"]]}
    assert len(edits) == 2  # the fixture's two edits, a headline's and a summary's

    done = run(empty_url, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert "\n  diffs take less space now;" in done.stdout  # nothing else shrank since 0015
    packed = _diffs(empty_engine)
    version = SQLModel.metadata.tables["version"]
    with empty_engine.connect() as connection:
        read = connection.execute(select(version).where(version.c.id.in_(edits.values())))
        versions = {row.id: row for row in read}
    for change_id, from_version in edits.items():
        assert stored_diff.is_packed(packed[change_id]), packed[change_id]
        assert stored_diff.unpack(packed[change_id], versions[from_version]) == whole[change_id]
    assert {k: v for k, v in packed.items() if k not in edits} == {
        k: v for k, v in whole.items() if k not in edits
    }

    with empty_engine.connect() as connection:
        command.downgrade(alembic_config(connection), "0015")
        connection.commit()
    assert _diffs(empty_engine) == whole
