"""The `redline` command's reading verbs, end to end. Two tests run the installed console
script in a subprocess, as a user does (`own_process`, on SQLite); the others call
tracker.cli.main in the test's process, as the `cli` fixture does everywhere."""

from __future__ import annotations

from datetime import datetime

import pytest

from .conftest import Site, manifest_snapshots, offstream_page
from .databases import Backend

SEED_PATH = (
    "/news/2017/03/2/the-syrian-army-and-its-allies-recapture-the-ancient-city-of-palmyra-"
    "from-the-islamic-state-of-iraq-and-the-levant.md"
)
PREFIX = "Syrian Civil War: Palmyra offensive (2017): "
CURRENT = (
    "The Syrian Army and its allies recapture the ancient city of Palmyra from the Islamic State "
    "of Iraq and the Levant."
)


@pytest.fixture
def own_process(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed script in a process of its own, on SQLite. What a process adds (the
    entry point, exit statuses, the output streams) does not depend on the database, and
    a process costs ~0.5 s: on PostgreSQL the same commands run in the test's process."""
    if backend.name == "sqlite":
        monkeypatch.setenv("REDLINE_TEST_CLI", "process")


def seed_tracked(site: Site, cli) -> str:
    url = site.publish(SEED_PATH, offstream_page("seeds/000_0c411d6d2d5ef8ba.txt"))
    assert "added: source 1" in cli("add", url).stdout
    out = cli("check").stdout
    assert "changed" in out and "2 new versions" in out
    return url


def test_seed_page_diff_is_exactly_the_deleted_prefix(site: Site, cli) -> None:
    url = seed_tracked(site, cli)

    assert cli("diff", url, "--format", "json").json() == {
        "from": 1,
        "to": 2,
        "fields": {"headline": [[-1, PREFIX], [0, CURRENT]]},
    }
    assert cli("diff", url).stdout == (f"item 1, version 1 → 2\nheadline: [-{PREFIX}-]{CURRENT}\n")
    html = cli("diff", "1", "--format", "html").stdout
    assert "<del style=" in html and "Syrian Civil War: Palmyra offensive (2017): </del>" in html
    patch = cli("diff", "1", "--format", "patch").stdout
    assert patch.startswith("--- headline (version 1)\n+++ headline (version 2)\n@@ ")


@pytest.mark.slow  # over 2.5 s (--durations, 2026-12-07): left out by `make quick`
def test_items_and_history_json_contract(site: Site, cli, own_process: None) -> None:
    url = seed_tracked(site, cli)

    assert cli("items", "--json").json() == [
        {"id": 1, "url": url, "headline": CURRENT, "versions": 2}
    ]
    old_url = site.url(
        "/news/2017/03/2/syrian-civil-war-palmyra-offensive-2017-the-syrian-army-and-its-allies-"
        "recapture-the-ancient-city-of-palmyra-from-the-islamic-state-of-i.md"
    )
    # Any URL the item has had finds it, including one only its page history knew.
    by_old_url = cli("history", old_url, "--json").json()
    assert by_old_url == cli("history", "1", "--json").json()
    assert by_old_url["item"] == {"id": 1, "url": url, "urls": [url, old_url], "removed_at": None}
    first, current = by_old_url["versions"]
    assert first == {
        "n": 1,
        "headline": PREFIX + CURRENT,
        "summary": None,
        "category": None,
        "tags": None,
        "observed_at": first["observed_at"],
        "reported_at": None,  # the page gives when it ended, not when it began
        "origin": "page-history",
        "archived_url": None,  # [archive] is off
        "change": {
            "kind": "created",
            "fields": [],
            "class": None,
            "score": None,
            "reasons": [],
            "similarity": None,
            "variants": None,
        },
    }
    assert current["origin"] == "observed"
    assert current["reported_at"] == "2017-08-27T03:47:56Z"  # the first headline's end
    # Dropping the category prefix drops a number and a name: substantive, with reasons.
    assert current["change"]["kind"] == "edited" and current["change"]["fields"] == ["headline"]
    assert current["change"]["class"] == "substantive"
    assert current["change"]["reasons"] == [
        "headline: number removed: 2017",
        "headline: name removed: civil, war",
    ]
    assert 0.6 <= current["change"]["score"] <= 1
    assert 0.6 < current["change"]["similarity"] < 0.8
    assert current["summary"].startswith("The Syrian opposition declined")
    assert datetime.fromisoformat(current["observed_at"]).tzinfo is not None


def test_history_shows_and_filters_by_class(site: Site, cli) -> None:
    [snapshot] = manifest_snapshots("ivorian-soldiers-2018-01-10")
    cli("add", site.publish(snapshot["url"], offstream_page(snapshot["file"])))
    cli("check")
    full = cli("history", "1").stdout
    assert "(style, score 0.0" in full and "(rewording, score 0." in full
    # The Changes list dates when each headline was replaced: the first one's start is
    # unknown, it began before the second did (not when redline read the list).
    versions = cli("history", "1", "--json").json()["versions"]
    assert versions[0]["reported_at"] is None and versions[1]["reported_at"]
    assert f"\nv1  before {versions[1]['reported_at']}  page-history  created\n" in full
    assert "    - headline: typo" in full  # the accents repaired, as the reasons say
    style = cli("history", "1", "--kind", "style", "--json").json()["versions"]
    assert [v["change"]["class"] for v in style] == ["style"]
    assert cli("history", "1", "--kind", "minor", "--json").json()["versions"] == style
    editorial = cli("history", "1", "--kind", "editorial", "--json").json()["versions"]
    assert {v["change"]["class"] for v in editorial} <= {"substantive", "rewording"}
    assert len(editorial) == 4  # five edits, one of them style
    bad = cli("history", "1", "--kind", "major", check=False)
    assert bad.code == 2 and "invalid choice" in bad.stderr
    assert bad.stderr.startswith("redline: argument --kind") and bad.stderr.count("\n") == 1


def test_diff_between_chosen_versions(site: Site, cli) -> None:
    [snapshot] = manifest_snapshots("ivorian-soldiers-2018-01-10")
    url = site.publish(snapshot["url"], offstream_page(snapshot["file"]))
    cli("add", url)
    cli("check")

    whole = cli("diff", url, "--from", "previous", "--format", "json").json()
    assert (whole["from"], whole["to"]) == (5, 6)
    step = cli("diff", url, "--from", "2", "--to", "3", "--format", "json").json()
    assert step["fields"]["headline"][:2] == [
        [0, "Ivorian soldiers in Bouak "],
        [-1, "have attacked"],
    ]
    back = cli("diff", url, "--from", "previous", "--to", "3", "--format", "json").json()
    assert (back["from"], back["to"]) == (2, 3) and back["fields"] == step["fields"]
    for args, message in [
        (("--from", "9"), "no version 9: the item has versions 1 to 6"),
        (("--from", "previous", "--to", "1"), "version 1 is the first"),
        (("--to", "latest-ish"), "not a version"),
    ]:
        failed = cli("diff", url, *args, check=False)
        assert failed.code == 2 and message in failed.stderr


@pytest.mark.slow  # over 2.5 s (--durations, 2026-12-07): left out by `make quick`
def test_user_errors_are_one_line_without_traceback(site: Site, cli, own_process: None) -> None:
    for args, message in [
        (("history", "42"), "no item 42"),
        (("history", "http://example.invalid/nothing"), "no item has had the URL"),
        (("diff", "nonsense"), "not an item id or URL"),
        (("add", "ftp://example.org/file"), "not an http(s) URL"),
        (("add", "not a url"), "not an http(s) URL"),
        (("add", "http://example.org/", "--kind", "weird"), "unknown source kind"),
        (("run", "--every", "soon"), "not a check interval"),
        (("run", "--config", "/nonexistent/redline.toml"), "no configuration file"),
    ]:
        result = cli(*args, check=False)
        assert result.code == 2, args
        assert result.stderr.startswith("redline: ") and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1


def test_sources_show_health(site: Site, cli) -> None:
    seed_tracked(site, cli)
    gone = site.url("/news/gone.md")
    cli("add", gone, "--name", "Gone page")
    assert "already tracked: source 1" in cli("add", site.url(SEED_PATH)).stdout
    out = cli("check", "--all").stdout
    assert "error" in out and "HTTP 404" in out and "1 not modified" in out

    rows = cli("sources", "--json").json()
    assert [(r["id"], r["kind"], r["consecutive_failures"]) for r in rows] == [
        (1, "offstream", 0),
        (2, "auto", 1),
    ]
    assert "HTTP 404" in rows[1]["last_error"] and rows[0]["last_error"] is None
    # One error is not yet "failing" (that takes [daemon] failing_after, 3, in a row).
    listing = cli("sources").stdout
    assert "last check failed (1x): HTTP 404" in listing and "FAILING" not in listing


def test_check_reports_nothing_due(site: Site, cli) -> None:
    seed_tracked(site, cli)
    assert "no source is due" in cli("check").stdout


def test_python_dash_m_tracker_works(db_url: str) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "tracker", "--db", db_url, "items", "--json"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_diff_formats_for_people(site: Site, cli) -> None:
    url = seed_tracked(site, cli)
    # Not a terminal: plain text unless asked.
    assert "\x1b[" not in cli("diff", url).stdout
    coloured = cli("diff", url, "--format", "color").stdout
    assert f"\x1b[31;9m{PREFIX}\x1b[0m{CURRENT}" in coloured
    table = cli("diff", url, "--format", "side-by-side").stdout
    assert table.startswith("<table") and "Before" in table and "<del style=" in table
    history = cli("history", url).stdout
    assert "edited headline (substantive, " in history and "page-history" in history
