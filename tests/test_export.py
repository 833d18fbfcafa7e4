"""`redline export`: every version and change, as JSON, NDJSON and CSV, through the real CLI.

The data comes from real checks of pages served from 127.0.0.1: the Offstream seed page
(a page-history version and two URLs), a CSV front page whose items are edited, removed
and restored, and a JSON listing whose text has accents, CJK, emoji, quotes, commas and
line breaks (CRLF, LF, U+2028).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

import tracker
from storage import Change, Item, Version, queries, transaction
from tracker.present import export
from tracker.record import history
from tracker.run.rounds import check_round
from tracker.run.sources import add_source

from .conftest import FIXTURES, Site, offstream_page
from .test_cli import SEED_PATH
from .test_stored_diff import assert_whole_diff

START = datetime(2026, 1, 1, tzinfo=UTC)
CSV_TYPE = "text/csv; charset=utf-8"
JSON_TYPE = "application/json"
BODY = (
    'Première ligne, avec "guillemets" et une virgule.\r\n'
    "Second line — 東京, 🙂\u2028after a line separator\n\n"
    "Last paragraph; it ends here."
)
HEADLINE = "Café owners say “no” to the new rules, again"
COLUMNS = [
    "item_id",
    "n",
    "observed_at",
    "reported_at",
    "origin",
    "url",
    "headline",
    "summary",
    "category",
    "tags",
    "sources",
    "body",
    "content_hash",
    "archived_url",
    "change_kind",
    "change_fields",
    "classification",
    "score",
    "reasons",
    "similarity",
]


def unicode_listing(body: str, headline: str) -> str:
    return json.dumps(
        [
            {
                "id": "u-1",
                "title": headline,
                "url": "/u/1",
                "summary": 'A "short" summary, with commas',
                "body": body,
                "tags": ["Économie", "Société"],
                "category": "Welt & Wirtschaft",
            },
            {"id": "u-2", "title": "Ελληνικά: ένα δεύτερο θέμα", "url": "/u/2"},
        ]
    )


def add(engine: Engine, url: str) -> int:
    with transaction(engine) as session:
        source, _ = add_source(session, url)
        assert source.id is not None
        return source.id


def check(engine: Engine, hour: int) -> None:
    results = check_round(engine, now=START + timedelta(hours=hour), all_sources=True)
    assert {r.outcome for r in results} <= {"changed", "unchanged", "not_modified"}, results


def track(site: Site, engine: Engine) -> dict[str, int]:
    """Sources 1-3 checked as their pages change; source 4 added but never checked."""
    ids = {
        "seed": add(
            engine, site.publish(SEED_PATH, offstream_page("seeds/000_0c411d6d2d5ef8ba.txt"))
        )
    }
    check(engine, 0)
    ids["front"] = add(engine, site.url("/headlines.csv"))
    for hour, name in enumerate(["frontpage-1.csv", "frontpage-2.csv", "frontpage-3.csv"], 1):
        site.publish("/headlines.csv", (FIXTURES / "listings" / name).read_text(), CSV_TYPE)
        check(engine, hour)
    ids["unicode"] = add(engine, site.url("/latest.json"))
    site.publish("/latest.json", unicode_listing(BODY, HEADLINE), JSON_TYPE)
    check(engine, 4)
    edited = unicode_listing(BODY.replace("Last paragraph", "Dernier paragraphe"), HEADLINE + "!")
    site.publish("/latest.json", edited, JSON_TYPE)
    check(engine, 5)
    ids["empty"] = add(engine, site.url("/nothing-yet.xml"))
    return ids


def when(text: str | None) -> datetime | None:
    """An exported time back as a datetime; it must be ISO 8601 UTC ending in Z."""
    if text is None:
        return None
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.removesuffix("Z") + "+00:00")


def database(engine: Engine) -> list[tuple[Item, list[str], list[Version], list[Change]]]:
    with transaction(engine) as session:
        return [
            (
                item,
                queries.alias_values(session, item.id, "url"),
                list(queries.versions_of(session, item.id)),
                list(queries.changes_of(session, item.id)),
            )
            for item in queries.all_items(session)
        ]


def ndjson_records(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n") or text == ""
    lines = text.split("\n")[:-1]
    # U+2028 inside a value must not split a record for readers that use splitlines().
    assert text.splitlines() == lines
    return [json.loads(line) for line in lines]


def csv_rows(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.decode("utf-8")  # UTF-8 throughout
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader)
        assert header == COLUMNS
        return [dict(zip(header, row, strict=True)) for row in reader]


def cell(value: object) -> str:
    """How a JSON value appears in a CSV cell: null as empty, lists joined with "; "."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(value)
    return str(value)


def test_json_export_holds_every_version_and_change(site: Site, engine: Engine, cli) -> None:
    track(site, engine)
    result = cli("export", "--all")
    document = result.json()
    # Streamed item by item, yet exactly the document json.dumps would give.
    assert result.stdout == json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    assert document["redline_version"] == tracker.__version__
    assert abs(when(document["exported_at"]) - datetime.now(UTC)) < timedelta(minutes=5)

    stored = database(engine)
    kinds = {c.kind for _, _, _, changes in stored for c in changes}
    # The data covers them all (the feature's headline A → B → A is a headline test).
    assert kinds == {"created", "edited", "removed", "restored", "headline_test"}
    assert [i["id"] for i in document["items"]] == [item.id for item, _, _, _ in stored]
    for exported, (item, urls, versions, changes) in zip(document["items"], stored, strict=True):
        assert exported["source_id"] == item.source_id
        assert (exported["url"], exported["urls"], exported["headline"]) == (
            item.url,
            urls,
            item.headline,
        )
        assert when(exported["first_seen_at"]) == item.first_seen_at
        assert when(exported["last_seen_at"]) == item.last_seen_at
        assert when(exported["removed_at"]) == item.removed_at
        assert len(exported["versions"]) == len(versions)
        for out, version in zip(exported["versions"], versions, strict=True):
            assert set(out) == {
                "n", "headline", "summary", "category", "tags", "sources", "body", "url",
                "origin", "observed_at", "reported_at", "content_hash", "archived_url",
            }  # fmt: skip
            for name in ("n", "headline", "summary", "category", "tags", "sources", "body"):
                assert out[name] == getattr(version, name), name
            assert (out["url"], out["origin"]) == (version.url, version.origin)
            assert out["content_hash"] == version.content_hash
            assert out["archived_url"] is None  # no [archive] here (tests/test_archive_links.py)
            assert when(out["observed_at"]) == version.observed_at
            assert when(out["reported_at"]) == version.reported_at
        assert len(exported["changes"]) == len(changes)
        for out, change in zip(exported["changes"], changes, strict=True):
            assert out == {
                "id": change.id,
                "kind": change.kind,
                "from_n": change.from_n,
                "to_n": change.to_n,
                "fields": change.fields,
                "classification": change.classification,
                "score": change.score,
                "reasons": change.reasons or [],
                "similarity": change.similarity,
                "variants": change.variants,
                "occurred_at": out["occurred_at"],
                "recorded_at": out["recorded_at"],
                "diff": out["diff"],
            }
            assert_whole_diff(out["diff"], change, versions)
            assert when(out["occurred_at"]) == change.occurred_at
            assert when(out["recorded_at"]) == change.recorded_at

    # Every field is known somewhere, so the comparisons above compared something.
    known = {name for _, _, vs, _ in stored for v in vs for name in COLUMNS if getattr(v, name, 0)}
    assert {"summary", "category", "tags", "sources", "body", "reported_at"} <= known

    # The same versions and changes `redline history --json` shows, for each item that
    # has more than its creation (one CLI run each: the others add time, not doubt).
    for exported in document["items"]:
        if len(exported["changes"]) == 1:
            continue
        shown = cli("history", str(exported["id"]), "--json").json()
        assert shown["item"] == {key: exported[key] for key in ("id", "url", "urls", "removed_at")}
        made_by = {
            c["to_n"]: c for c in exported["changes"] if c["kind"] in history.VERSION_MAKING_KINDS
        }
        for seen, out in zip(shown["versions"], exported["versions"], strict=True):
            change = made_by[out["n"]]
            assert seen == {
                **{key: out[key] for key in seen if key != "change"},
                "change": {
                    "kind": change["kind"],
                    "fields": change["fields"],
                    "class": change["classification"],
                    "score": change["score"],
                    "reasons": change["reasons"],
                    "similarity": change["similarity"],
                    "variants": change["variants"],
                },
            }


def test_one_item_by_id_or_any_url_it_has_had(site: Site, engine: Engine, cli) -> None:
    track(site, engine)
    [seed] = cli("export", "1").json()["items"]
    assert [v["origin"] for v in seed["versions"]] == ["page-history", "observed"]
    # A Changes entry's time ends its version and starts the next.
    assert [v["reported_at"] for v in seed["versions"]] == [None, "2017-08-27T03:47:56Z"]
    assert seed["versions"][0]["summary"] is None  # unknown, not empty
    assert seed["changes"][1]["diff"]["headline"][0] == [
        -1,
        "Syrian Civil War: Palmyra offensive (2017): ",
    ]
    old_url = next(url for url in seed["urls"] if "syrian-civil-war" in url)
    assert cli("export", old_url).json()["items"] == [seed]


def test_the_three_formats_agree(site: Site, engine: Engine, cli, tmp_path: Path) -> None:
    track(site, engine)
    items = cli("export", "--all", "--format", "json").json()["items"]
    records = ndjson_records(cli("export", "--all", "--format", "ndjson").stdout)
    cli("export", "--all", "--format", "csv", "--out", str(tmp_path / "all.csv"))
    rows = csv_rows(tmp_path / "all.csv")

    # NDJSON: the JSON document's versions then changes, item by item, flat.
    flattened = [
        {"record": kind, "item_id": item["id"], **entry}
        for item in items
        for kind, key in (("version", "versions"), ("change", "changes"))
        for entry in item[key]
    ]
    assert records == flattened
    assert {r["record"] for r in records} == {"version", "change"}

    # CSV: a row per version, in the same order, with the change that made it.
    versions = [(item, v) for item in items for v in item["versions"]]
    assert len(rows) == len(versions)
    for row, (item, version) in zip(rows, versions, strict=True):
        [change] = [
            c
            for c in item["changes"]
            if c["kind"] in history.VERSION_MAKING_KINDS and c["to_n"] == version["n"]
        ]
        assert row == {
            "item_id": str(item["id"]),
            **{name: cell(version[name]) for name in COLUMNS[1:14]},
            "change_kind": change["kind"],
            "change_fields": cell(change["fields"]),
            "classification": cell(change["classification"]),
            "score": cell(change["score"]),
            "reasons": cell(change["reasons"]),
            "similarity": cell(change["similarity"]),
        }
        if change["similarity"] is not None:  # the float survives the text exactly
            assert float(row["similarity"]) == change["similarity"]
    # Removals and restorations make no version: they are in JSON and NDJSON only.
    assert any(r["record"] == "change" and r["kind"] == "removed" for r in records)
    assert {row["change_kind"] for row in rows} == {"created", "edited", "headline_test"}


def test_unicode_and_line_breaks_survive(site: Site, engine: Engine, cli, tmp_path: Path) -> None:
    ids = track(site, engine)
    out = tmp_path / "unicode.csv"
    cli("export", "--source", str(ids["unicode"]), "--format", "csv", "--out", str(out))
    raw = out.read_bytes()
    assert raw.startswith(b"item_id,n,") and raw.endswith(b"\r\n")  # RFC 4180 line ends
    rows = csv_rows(out)
    with transaction(engine) as session:
        stored = session.exec(
            select(Version)
            .join(Item, Item.id == Version.item_id)
            .where(Item.source_id == ids["unicode"])
            .order_by(Version.item_id, Version.n)
        ).all()
    assert [(int(r["item_id"]), int(r["n"])) for r in rows] == [(v.item_id, v.n) for v in stored]
    for row, version in zip(rows, stored, strict=True):
        assert row["headline"] == version.headline
        assert row["body"] == (version.body or "")
        assert row["tags"] == "; ".join(version.tags or [])
    first, edited = rows[0], rows[1]
    assert first["body"] == BODY  # CRLF, LF, U+2028, quotes, commas, emoji, CJK
    assert first["headline"] == HEADLINE and first["category"] == "Welt & Wirtschaft"
    assert first["tags"] == "Économie; Société"
    assert edited["body"] == BODY.replace("Last paragraph", "Dernier paragraphe")
    assert edited["change_kind"] == "edited"
    assert edited["change_fields"] == "headline; body"
    assert rows[2]["headline"] == "Ελληνικά: ένα δεύτερο θέμα"

    text = cli("export", "--source", str(ids["unicode"]), "--format", "ndjson").stdout
    assert "\u2028" not in text  # escaped, so each record stays on one line
    bodies = [r["body"] for r in ndjson_records(text) if r["record"] == "version"]
    assert bodies[:2] == [first["body"], edited["body"]]


def test_source_export_covers_its_items_and_only_them(site: Site, engine: Engine, cli) -> None:
    ids = track(site, engine)
    records = ndjson_records(
        cli("export", "--source", str(ids["front"]), "--format", "ndjson").stdout
    )
    with transaction(engine) as session:
        items = session.exec(select(Item).where(Item.source_id == ids["front"])).all()
        changes = session.exec(select(Change).where(Change.source_id == ids["front"])).all()
    assert len(items) == 4
    assert {r["item_id"] for r in records} == {item.id for item in items}
    versions = [r for r in records if r["record"] == "version"]
    assert len(versions) == sum(item.version_count for item in items)
    assert sorted(r["id"] for r in records if r["record"] == "change") == sorted(
        c.id for c in changes
    )


def test_a_source_without_items_exports_nothing(site: Site, engine: Engine, cli) -> None:
    ids = track(site, engine)
    empty = str(ids["empty"])
    assert cli("export", "--source", empty).json()["items"] == []
    assert cli("export", "--source", empty, "--format", "ndjson").stdout == ""
    assert cli("export", "--source", empty, "--format", "csv").stdout == ",".join(COLUMNS) + "\n"


def test_out_writes_the_file_whole(site: Site, engine: Engine, cli, tmp_path: Path) -> None:
    track(site, engine)
    target = tmp_path / "item.json"
    target.write_text("x" * 100_000)  # a longer old file: nothing of it may remain
    result = cli("export", "1", "--out", str(target))
    assert result.stdout == ""
    assert result.stderr == f"wrote 1 item (2 versions, 2 changes) to {target}\n"  # issue 15
    written = json.loads(target.read_text(encoding="utf-8"))
    shown = cli("export", "1").json()
    assert {**written, "exported_at": None} == {**shown, "exported_at": None}
    assert [p.name for p in tmp_path.iterdir()] == ["item.json"]  # no temporary left behind

    ndjson = tmp_path / "all.ndjson"
    cli("export", "--all", "--format", "ndjson", "--out", str(ndjson))
    assert ndjson.read_text(encoding="utf-8") == cli("export", "--all", "--format", "ndjson").stdout

    missing = cli("export", "1", "--out", str(tmp_path / "no" / "such" / "dir.json"), check=False)
    assert missing.code == 2 and missing.stderr.startswith("redline: cannot write ")
    folder = cli("export", "1", "--out", str(tmp_path), check=False)
    assert folder.code == 2 and folder.stderr.endswith(": it is a directory\n")


def test_a_failed_export_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "export.csv"
    target.write_text("the previous export\n")
    with pytest.raises(ConnectionError), export.output(str(target)) as stream:
        stream.write("item_id,n\r\n1,1\r\n")
        raise ConnectionError("the database went away mid-export")
    assert target.read_text() == "the previous export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["export.csv"]


def test_user_errors(cli) -> None:
    for args, message in [
        (("export", "99"), "redline: no item 99\n"),
        (("export", "--source", "7"), "redline: no source 7\n"),
        (("export", "http://example.invalid/x"), "redline: no item has had the URL "),
        (("export",), "redline: say what to export: one of ITEM, --source ID or --all\n"),
        (("export", "1", "--all"), "redline: say what to export: one of ITEM, --source ID"),
    ]:
        result = cli(*args, check=False)
        assert result.code == 2, args
        assert result.stderr.startswith(message), result.stderr
        assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_items_are_read_in_batches_from_one_snapshot(
    site: Site, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = track(site, engine)
    with export.snapshot(engine) as session:
        whole = io.StringIO()
        export.write_export(session, export.Selection(), "ndjson", whole)

    monkeypatch.setattr(export, "ITEM_BATCH", 2)
    loaded: list[int] = []
    read_batch = export._with_histories

    def counting(session, items):  # type: ignore[no-untyped-def]
        loaded.append(len(items))
        return read_batch(session, items)

    monkeypatch.setattr(export, "_with_histories", counting)

    class Stream(io.StringIO):
        """Notes how many batches were read at the first write, then edits the last item."""

        batches_at_first_write: int | None = None

        def write(self, text: str) -> int:
            if self.batches_at_first_write is None:
                self.batches_at_first_write = len(loaded)
                edited = unicode_listing(BODY, HEADLINE + ", edited during the export")
                site.publish("/latest.json", edited, JSON_TYPE)
                results = check_round(engine, now=START + timedelta(hours=6), all_sources=True)
                assert "changed" in {r.outcome for r in results}
            return super().write(text)

    stream = Stream()
    with export.snapshot(engine) as session:
        done = export.write_export(session, export.Selection(), "ndjson", stream)
    with transaction(engine) as session:
        count = len(session.exec(select(Item)).all())
        # By key: without an order, PostgreSQL returns the row it updated last.
        edited_item = select(Item).where(Item.source_id == ids["unicode"], Item.key == "u-1")
        unicode_item = session.exec(edited_item).one()
    assert loaded == [2] * (count // 2) + [count % 2] * (count % 2)
    # Written as read: the first record went out before the second batch was read.
    assert stream.batches_at_first_write == 1
    # The check that committed mid-export is not in it: one snapshot throughout.
    assert stream.getvalue() == whole.getvalue()
    assert done.items == count
    assert unicode_item is not None and unicode_item.version_count == 3
