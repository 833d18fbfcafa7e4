"""Noise rules: text that changes by itself is left out of comparisons, stored as seen."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from storage import Source, queries, transaction
from tracker.compare.noise import comparable
from tracker.extract import Page, extract
from tracker.record.ingest import record_observations
from tracker.run.sources import add_source

from .conftest import FIXTURES
from .test_http_api import AUTH, client_for
from .test_identity_classes import at

ARTICLE = "https://harbourherald.example/news/2026/03/14/estuary-floods-live"
LONG = "Water came over the sea wall at Eastquay shortly after midnight. " * 20


NOISE = "Talks go on."


@pytest.mark.parametrize(
    ("field", "old", "new", "same"),
    [
        ("summary", f"Updated 5 minutes ago. {NOISE}", f"Updated 17 minutes ago. {NOISE}", True),
        ("summary", "Posted an hour ago: talks go on", "Posted 2 hours ago: talks go on", True),
        ("summary", "Talks resume at 14:32 GMT", "Talks resume at 15:05 GMT", True),
        ("summary", "It ends at 2.05pm BST", "It ends at 2.40pm BST", True),
        ("summary", "2026-03-14T11:02:00Z: it held", "2026-03-14T11:14:00Z: it held", True),
        ("summary", "1,204 views · 32 comments", "1,388 views · 35 comments", True),
        ("summary", "Comments (12)", "Comments (16)", True),
        ("body", "A.\nLast updated on 14 March\nB.", "A.\nLast updated on 15 March\nB.", True),
        ("body", LONG + "Raised £12,440 from 301.", LONG + "Raised £13,905 from 342.", True),
        # A number in a headline, a short body or a summary is news.
        ("headline", "Estuary floods: 8 missing", "Estuary floods: 12 missing", False),
        ("headline", "Updated 5 minutes ago", "Updated 6 minutes ago", False),
        ("body", "Raised £12,440 from 301 donors.", "Raised £13,905 from 342 donors.", False),
        ("summary", "Inflation is 5.40% now", "Inflation is 5.90% now", False),
        ("summary", "The 5 amendments passed", "The 6 amendments passed", False),
    ],
)  # fmt: skip
def test_built_in_rules(field: str, old: str, new: str, same: bool) -> None:
    assert (comparable(field, old) == comparable(field, new)) is same


def test_own_patterns_apply_to_every_field_the_headline_too() -> None:
    own = (r"\s*\(\d+ live updates\)",)
    assert comparable("headline", "Floods (3 live updates)", own) == "Floods"
    assert comparable("tags", ["Floods", "Live: 3"], (r"^Live: \d+$",)) == ["Floods"]


def page(n: int) -> str:
    return (FIXTURES / "noise" / f"updating-{n}.html").read_text(encoding="utf-8")


def record(engine: Engine, source_id: int, text: str, when: datetime) -> int:
    """One check of an article page; the versions it added."""
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        assert source is not None
        _, observations = extract("article", Page(ARTICLE, text))
        stats = record_observations(session, source, observations, when, listing=False)
        return stats.versions_added


def test_an_article_whose_clock_and_counts_tick_is_edited_only_when_its_headline_is(
    engine: Engine,
) -> None:
    """updating-2 differs from updating-1 by its briefing time and its appeal's running
    totals (and its counters, which the extractor drops): not an edit. updating-3 also
    changes the headline's number: an edit. The text stored is the text as seen."""
    with transaction(engine) as session:
        source, _ = add_source(session, ARTICLE, "article")
        source_id = source.id or 0
    assert page(1) != page(2)
    added = [record(engine, source_id, page(n), at(14, 10 + n)) for n in (1, 2, 3)]
    assert added == [1, 0, 1]
    with transaction(engine) as session:
        [item] = queries.all_items(session)
        first, second = queries.versions_of(session, item.id or 0)
    assert "11:00 GMT" in (first.body or "") and "£12,440" in (first.body or "")
    assert first.last_observed_at == at(14, 12)  # seen again, unchanged but for noise
    assert second.headline == "Estuary floods: 12 missing after sea wall gives way"


def test_own_patterns_make_no_version(engine: Engine) -> None:
    with transaction(engine) as session:
        source, _ = add_source(
            session, ARTICLE, "article", options={"ignore": [r"Volunteers have joined[^.]*\."]}
        )
        source_id = source.id or 0
    rewritten = page(1).replace("as the tide turns, the harbour master", "at dawn, police")
    assert [
        record(engine, source_id, text, at(14, h)) for h, text in ((8, page(1)), (9, rewritten))
    ] == [
        1,
        0,
    ]


def test_ignore_is_set_and_checked_by_the_cli(cli, tmp_path: Path) -> None:
    bad = cli("add", "https://news.example/feed.xml", "--ignore", "(unclosed", check=False)
    assert bad.code == 2
    assert bad.stderr.count("\n") == 1 and "--ignore '(unclosed' is not a valid" in bad.stderr
    cli("add", "https://news.example/feed.xml", "--ignore", r"\d+ readers")
    [source] = cli("sources", "--json").json()
    assert source["options"]["ignore"] == [r"\d+ readers"]
    edited = cli("source", "edit", str(source["id"]), "--ignore", "a", "--ignore", "b")
    assert "ignore a b" in edited.stdout
    assert cli("sources", "--json").json()[0]["options"]["ignore"] == ["a", "b"]
    cli("source", "edit", str(source["id"]), "--ignore", "")
    assert "ignore" not in cli("sources", "--json").json()[0]["options"]
    wrong = cli("source", "edit", str(source["id"]), "--ignore", "x{2,1}", check=False)
    assert wrong.code == 2 and wrong.stderr.startswith("redline: --ignore")

    config = tmp_path / "redline.toml"
    config.write_text('[[source]]\nurl = "https://news.example/rss"\nignore = ["[z-a]"]\n')
    refused = cli("--config", str(config), "run", check=False)
    assert refused.code == 2 and "[[source]] number 1 ignore" in refused.stderr


def test_ignore_through_the_api(engine: Engine) -> None:
    with client_for(engine) as client:
        bad = client.post(
            "/api/sources",
            json={"url": "https://news.example/a", "options": {"ignore": ["(x"]}},
            headers=AUTH,
        )
        assert bad.status_code == 400 and "not a valid regular expression" in bad.json()["detail"]
        made = client.post(
            "/api/sources",
            json={"url": "https://news.example/a", "options": {"ignore": [r"\d+ views"]}},
            headers=AUTH,
        ).json()
        assert made["options"]["ignore"] == [r"\d+ views"]
        path = f"/api/sources/{made['id']}"
        assert client.patch(path, json={"ignore": ["*"]}, headers=AUTH).status_code == 400
        changed = client.patch(path, json={"ignore": ["Live"]}, headers=AUTH).json()
        assert changed["options"]["ignore"] == ["Live"]
        cleared = client.patch(path, json={"ignore": None}, headers=AUTH).json()
        assert "ignore" not in cleared["options"]
