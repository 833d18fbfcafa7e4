"""Headline tests: a lead headline alternating A → B → A is one event, not an edit per flip.

The front page is shaped like the git-scraped BBC sample (title, href, tag, summary; a
snapshot every 15 minutes), written for these tests: the lead story's headline is an A/B
test for an hour, then really edited; a day and a half later an old variant comes back,
outside the window: an editor's change, an edit.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import feedparser
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage import Change, Source, queries, transaction
from tracker.extract import Page, extract
from tracker.record.ingest import record_observations
from tracker.run.config import load_config

from .test_http_api import AUTH, client_for
from .test_identity_classes import SITE, at, replay
from .test_partial_fields import front_page

A = "Ukraine crisis: Putin orders troops into rebel regions"
B = "Putin sends troops into eastern Ukraine"
C = "Putin sends troops into eastern Ukraine as West weighs sanctions"
LIVE = "/news/live/world-europe-60454795"
OTHER = ("Zverev thrown out of Mexican Open", "/sport/tennis/60490225", "Tennis", "")
SUMMARY = "Russia's president makes the announcement on TV."


def lead(headline: str) -> list[tuple[str, str, str, str]]:
    return [(headline, LIVE, "Europe", SUMMARY), OTHER]


def snapshots() -> list[tuple[str, str]]:
    """(headline, CSV) of every snapshot, every 15 minutes, then one 36 hours on."""
    return [(h, front_page(lead(h))) for h in (A, B, A, B, A, C)] + [(B, front_page(lead(B)))]


def times() -> list:
    start = at(2, 8)
    return [start + timedelta(minutes=15 * n) for n in range(6)] + [start + timedelta(hours=37)]


def kinds_and_variants(engine: Engine) -> list[tuple[str, list[str] | None]]:
    with transaction(engine) as session:
        item = next(i for i in queries.all_items(session) if (i.url or "").endswith(LIVE))
        return [(c.kind, c.variants) for c in queries.changes_of(session, item.id or 0)]


def test_a_headline_ab_test_is_one_event_and_every_version_is_kept(engine: Engine) -> None:
    pages = [page for _, page in snapshots()]
    replay(engine, f"{SITE}/headlines.csv", "listing", list(zip(times(), pages, strict=True)))
    assert kinds_and_variants(engine) == [
        ("created", None),
        ("edited", None),  # A → B: nothing yet says it is a test
        ("headline_test", [A, B]),  # back to A within the window: a test
        ("headline_flip", None),
        ("headline_flip", None),
        ("edited", None),  # → C, a new headline: an edit
        ("edited", None),  # back to B 36 hours on: outside the window, an edit
    ]
    with transaction(engine) as session:
        item = next(i for i in queries.all_items(session) if (i.url or "").endswith(LIVE))
        headlines = [v.headline for v in queries.versions_of(session, item.id or 0)]
    assert headlines == [A, B, A, B, A, C, B]  # every version is stored

    with client_for(engine) as client:
        feed = feedparser.parse(client.get(f"/feeds/items/{item.id}.atom").content)
        history = client.get(f"/api/items/{item.id}/versions").json()
        recent = client.get("/").text
    titles = [entry.title for entry in feed.entries]
    assert f"Headline test: {A} / {B}" in titles
    # One entry per edit and one for the test, none per flip (and the item feed's
    # first → current overview).
    changes = [title for title in titles if not title.startswith("Version 1 → 7")]
    assert len(changes) == 4 and len(titles) == 5
    assert sum(title.startswith("Headline test") for title in titles) == 1
    assert history["versions"][2]["change"]["variants"] == [A, B]
    assert f"Headline test: {A} / {B}" in recent


def test_a_third_variant_grows_the_test(engine: Engine) -> None:
    """A → B → A → C → B: C is an edit when first shown, and coming back to B makes the
    test one of three variants (a second event naming all three)."""
    sequence = (A, B, A, C, B, C)
    pages = [front_page(lead(h)) for h in sequence]
    when = [at(2, 8) + timedelta(minutes=15 * n) for n in range(len(sequence))]
    replay(engine, f"{SITE}/headlines.csv", "listing", list(zip(when, pages, strict=True)))
    assert kinds_and_variants(engine) == [
        ("created", None),
        ("edited", None),
        ("headline_test", [A, B]),
        ("edited", None),
        ("headline_test", [A, B, C]),
        ("headline_flip", None),
    ]


@pytest.mark.parametrize("hours", [0, 0.25])
def test_the_window_is_the_sources(engine: Engine, hours: float) -> None:
    """Off (0), or shorter than the time A was away: every switch is an edit."""
    pages = [front_page(lead(h)) for h in (A, B, A)]
    when = [at(2, 8), at(2, 9), at(2, 10)]
    replay(
        engine,
        f"{SITE}/headlines.csv",
        "listing",
        list(zip(when, pages, strict=True)),
        headline_test_hours=hours,
    )
    assert [kind for kind, _ in kinds_and_variants(engine)] == ["created", "edited", "edited"]
    with transaction(engine) as session:
        assert not session.exec(select(Change).where(Change.kind == "headline_test")).all()


def test_a_change_of_case_alone_is_an_edit_not_a_test(engine: Engine) -> None:
    """'$2m' → '$2M', 'Back' → 'back': the headline differs from the one before only in
    case, which is no switch back to an earlier headline (as on the Hacker News sample,
    where moderators fix a title's case). Switching back to A with other case, after B,
    is still a test."""
    lowered = A.replace("Putin orders", "putin orders")
    sequence = (A, lowered, B, A)
    pages = [front_page(lead(h)) for h in sequence]
    when = [at(2, 8) + timedelta(minutes=15 * n) for n in range(len(sequence))]
    replay(engine, f"{SITE}/headlines.csv", "listing", list(zip(when, pages, strict=True)))
    assert kinds_and_variants(engine) == [
        ("created", None),
        ("edited", None),  # A → a: case alone, an edit
        ("edited", None),  # a → B
        ("headline_test", [A, B]),  # back to A (a in other case): a test of A and B
    ]


def test_the_window_is_changed_by_source_edit_patch_and_redline_toml(
    engine: Engine, cli, tmp_path: Path
) -> None:
    """A source's window (and its fuzzy-identity tuning) can be changed after it is added:
    `redline source edit`, PATCH /api/sources/ID and [[source]] in redline.toml."""
    url = f"{SITE}/headlines.csv"
    source_id = replay(engine, url, "listing", [(at(2, 8), front_page(lead(A)))])
    edited = cli("source", "edit", str(source_id), "--headline-test-window", "0")
    assert edited.code == 0
    for when, headline in ((at(2, 9), B), (at(2, 10), A)):  # A → B → A, the window off
        with transaction(engine) as session:
            source = session.get(Source, source_id)
            assert source is not None and source.options["headline_test_hours"] == 0
            _, observations = extract("listing", Page(url, front_page(lead(headline))))
            record_observations(session, source, observations, when, listing=True)
    assert [kind for kind, _ in kinds_and_variants(engine)] == ["created", "edited", "edited"]

    wrong = cli("source", "edit", str(source_id), "--match-window", "500", check=False)
    assert wrong.code == 2 and wrong.stderr.count("\n") == 1
    assert wrong.stderr.startswith("redline: --match-window is hours from 0 to 168")
    cli("source", "edit", str(source_id), "--headline-test-window", "default")
    with client_for(engine) as client:
        path = f"/api/sources/{source_id}"
        options = client.get(path).json()["options"]
        assert "headline_test_hours" not in options  # back to the default
        changed = client.patch(path, json={"match_threshold": 0.8}, headers=AUTH)
        assert changed.status_code == 200 and changed.json()["options"]["match_threshold"] == 0.8
        refused = client.patch(path, json={"headline_test_hours": 999}, headers=AUTH)
        assert refused.status_code == 422 and "headline_test_hours" in refused.text
        cleared = client.patch(path, json={"match_threshold": None}, headers=AUTH).json()
        assert "match_threshold" not in cleared["options"]

    config = tmp_path / "redline.toml"
    config.write_text(f'[[source]]\nurl = "{url}"\nheadline_test_window = 6\nmatch_window = 2\n')
    assert load_config(config).sources[0].options == {
        "headline_test_hours": 6.0,
        "match_window_hours": 2.0,
    }
    config.write_text(f'[[source]]\nurl = "{url}"\nheadline_test_window = "a day"\n')
    refused_toml = cli("--config", str(config), "run", check=False)
    assert refused_toml.code == 2 and refused_toml.stderr.count("\n") == 1
    assert "[[source]] number 1 headline_test_window: --headline-test-window" in refused_toml.stderr
