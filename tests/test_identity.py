"""Identity within one check: an item listed twice, and two items sharing one key."""

from __future__ import annotations

import re
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage import Change, transaction
from tracker.compare.diff import diff_text, similarity
from tracker.identity import match

from .conftest import Site
from .test_listing import JSON, add
from .test_tracking import START, check_all, items_and_versions

DAY_PAGE = """<!DOCTYPE html><html><head><title>Portal:Current events/2017 March 2</title></head>
<body><div class="current-events"><div class="current-events-title" role="heading">
<span class="summary">March 2, 2017<span style="display:none"> (<span class="bday dtstart">
2017-03-02</span>)</span></span></div><div class="current-events-content description">
<p><b>Armed conflicts and attacks</b></p><ul><li>
<a href="/wiki/Syrian_Civil_War">Syrian Civil War</a><ul>
<li>{first} (<a class="external text" href="https://news.example/palmyra">Reuters</a>)</li>
<li>{second} (<a class="external text" href="https://news.example/palmyra">Reuters</a>)</li>
</ul></li></ul></div></div></body></html>"""


def test_two_bullets_citing_one_article_stay_two_items(site: Site, engine: Engine) -> None:
    page = DAY_PAGE.format(
        first="The Syrian Army recaptures Palmyra.",
        second="Russia says its jets supported the advance.",
    )
    url = site.publish("/wiki/day", page, "text/html; charset=utf-8")
    add(engine, url)
    for hour in range(3):
        site.publish("/wiki/day", page + " " * hour, "text/html; charset=utf-8")  # re-rendered
        check_all(engine, START + timedelta(hours=hour))

    tracked = items_and_versions(engine)
    assert sorted(versions[0].headline or "" for _, versions in tracked) == [
        "Russia says its jets supported the advance.",
        "The Syrian Army recaptures Palmyra.",
    ]
    assert all(len(versions) == 1 for _, versions in tracked)  # no flip-flopping
    with transaction(engine) as session:
        assert [c.kind for c in session.exec(select(Change)).all()] == ["created", "created"]


def test_an_item_listed_twice_in_one_check_is_one_sighting(site: Site, engine: Engine) -> None:
    add(engine, site.url("/latest.json"))
    absolute = site.url("/news/uk-70000004")
    body = (
        '[{"title": "Harbour bridge closed", "link": "/news/uk-70000004"},'
        f' {{"title": "Harbour bridge closed", "link": "{absolute}"}}]'
    )
    for hour in range(2):
        site.publish("/latest.json", body, JSON)
        check_all(engine, START + timedelta(hours=hour))
    [(_, versions)] = items_and_versions(engine)
    assert len(versions) == 1


def test_renditions_of_one_offstream_page_are_one_identity() -> None:
    from tracker.extract.base import Observation
    from tracker.identity.match import Rules
    from tracker.identity.sighting import Sighting

    rules = Rules.for_source("offstream", {})
    md = Observation(url="https://offstream.news/news/2018/01/1/boat.md", headline="A boat")
    html = Observation(url="https://offstream.news/news/2018/01/1/boat.html", headline="A boat")
    assert Sighting.of(md, rules=rules).keys == Sighting.of(html, rules=rules).keys
    assert Sighting.of(md, rules=rules).keys == [
        ("page", "https://offstream.news/news/2018/01/1/boat")
    ]
    # Other kinds keep whole URLs: a .html and a .md there may be different things.
    assert Sighting.of(md).keys != Sighting.of(html).keys


def test_history_finds_an_item_by_another_rendition_of_its_url(site: Site, cli) -> None:
    from .test_cli import SEED_PATH, seed_tracked

    seed_tracked(site, cli)
    html_url = site.url(SEED_PATH.removesuffix(".md") + ".html")
    assert cli("history", html_url, "--json").json()["item"]["id"] == 1
    old_html = site.url(
        "/news/2017/03/2/syrian-civil-war-palmyra-offensive-2017-the-syrian-army-and-its-allies-"
        "recapture-the-ancient-city-of-palmyra-from-the-islamic-state-of-i.html"
    )
    assert cli("history", old_html, "--json").json()["item"]["id"] == 1
    assert cli("history", site.url("/elsewhere.html"), check=False).code == 2


def test_the_md_and_html_renditions_of_a_page_are_one_item(site: Site, engine: Engine) -> None:
    from .conftest import OFFSTREAM, manifest_snapshots
    from .test_tracking import add as add_page

    first, second, *_ = manifest_snapshots("boat-borneo-2018-01-01")
    md_url = site.publish(first["url"], (OFFSTREAM / first["file"]).read_text())
    add_page(engine, md_url)
    check_all(engine, START)
    # The site now serves the HTML rendition of the next version; the .md answers 301.
    html_path = second["url"].removesuffix(".md") + ".html"
    html = (OFFSTREAM / "html" / second["file"]).with_suffix(".html").read_text()
    site.move(first["url"], html_path)
    site.publish(html_path, html, "text/html; charset=utf-8")
    assert check_all(engine, START + timedelta(hours=1)) == {md_url: "changed"}

    [(item, versions)] = items_and_versions(engine)
    assert [v.headline for v in versions] == [first["headline"], second["headline"]]
    assert item.url == site.url(html_path)


def test_a_very_long_headline_key_is_stored_as_its_hash() -> None:
    from tracker.extract.base import Observation
    from tracker.identity.match import MAX_KEY_BYTES, fallback_keys

    short = fallback_keys(Observation(url=None, headline="Troops Cross The Border"))
    assert short == [("title", "troops cross the border")]
    [(kind, key)] = fallback_keys(Observation(url=None, headline="長" * 2_000))
    assert kind == "title" and key.startswith("sha256:") and len(key.encode()) < MAX_KEY_BYTES
    # The same headline, the same key: the item is still found next time.
    assert fallback_keys(Observation(url=None, headline="長" * 2_000)) == [(kind, key)]


WORDS = st.sampled_from(["the", "army", "Palmyra", "recaptures", "é", "naïve", "U.S.", "-", "8"])


@settings(max_examples=300, deadline=None)
@given(
    old=st.lists(WORDS, max_size=12).map(" ".join) | st.text(max_size=40),
    new=st.lists(WORDS, max_size=12).map(" ".join) | st.text(max_size=40),
)
def test_the_similarity_bound_never_undercuts_the_similarity(old: str, new: str) -> None:
    """Fuzzy matching skips the diff of pairs whose bound is under the threshold: the
    bound must be at least the similarity, or a true match would be missed."""
    old_side, new_side = match._Likeness.of(old, None), match._Likeness.of(new, None)
    if not (old_side.headline and new_side.headline):
        return  # empty headlines are never compared
    exact = similarity(diff_text(old_side.headline, new_side.headline))
    assert match._similarity_bound(old_side, new_side) >= exact - 1e-9


def test_a_sighting_works_out_its_evidence_once_and_in_order() -> None:
    from dataclasses import replace

    from tracker.extract.base import HistoryEntry, Observation
    from tracker.identity.sighting import Sighting, content_fields
    from tracker.normalise import content_hash

    earlier = HistoryEntry("Old", "https://News.example/a-old#top", None, "First version")
    observation = Observation(
        url="https://news.example/a?utm_source=x", headline="  A  headline ", history=[earlier]
    )
    sighting = Sighting.of(observation, ["https://news.example/requested"])
    # Its own URL first, then the page's as requested, then its Changes list's: canonical.
    assert sighting.urls == [
        "https://news.example/a",
        "https://news.example/requested",
        "https://news.example/a-old",
    ]
    assert sighting.url == "https://news.example/a"
    assert Sighting.of(replace(observation, url=None)).url is None
    assert sighting.content_hash == content_hash(content_fields(observation))
    # Other content (a listing's partial field filled in) is another hash; the keys stay.
    shown = sighting.showing(replace(observation, summary="A summary"))
    assert shown.content_hash != sighting.content_hash and shown.keys == sighting.keys


def test_a_url_id_two_items_share_in_one_check_is_not_used() -> None:
    from tracker.extract.base import Observation
    from tracker.identity.sighting import Sighting, drop_ambiguous_url_ids

    one = Sighting.of(Observation(url="https://news.example/x/12345678/a", headline="One"))
    two = Sighting.of(Observation(url="https://news.example/x/12345678/b", headline="Two"))
    same = Sighting.of(Observation(url="https://news.example/x/87654321/c", headline="Three"))
    assert any(kind == "urlid" for kind, _ in one.keys)
    drop_ambiguous_url_ids([one, two, same])
    assert not any(kind == "urlid" for kind, _ in [*one.keys, *two.keys])
    assert any(kind == "urlid" for kind, _ in same.keys)  # named one item only: kept


_ids = st.dictionaries(st.sampled_from(["id", "guid", "urlid a|"]), st.sampled_from("xyz"))


@settings(max_examples=300, deadline=None)
@given(item=_ids, newcomers=st.lists(_ids, max_size=6))
def test_ids_allowed_answers_as_the_pairwise_veto(
    item: dict[str, str], newcomers: list[dict[str, str]]
) -> None:
    # The grouped look-up that a listing's check asks of every departed item (IdsAllowed)
    # says what comparing the item with each newcomer would.
    pairwise = any(match.ids_veto(item, new) is None for new in newcomers)
    assert match.IdsAllowed(newcomers)(item) is pairwise


def test_context_sightings_are_kept_while_the_rules_stay_and_never_narrowed() -> None:
    from dataclasses import replace

    from tracker.extract.base import Observation
    from tracker.identity.sighting import ContextSightings, Sighting, drop_ambiguous_url_ids

    rows = [
        Observation(url=f"https://news.example/x/{12345678 + n}/a-{n}", headline=f"Row {n}")
        for n in range(3)
    ]
    kept, rules = ContextSightings(), match.Rules()
    first = kept.of(rows, rules)
    assert [s.keys for s in first] == [Sighting.of(row).keys for row in rows]
    again = kept.of(rows[1:], rules)
    assert again[0] is first[1] and again[1] is first[2]  # worked out once
    assert kept.of(rows[:1], rules)[0] is not first[0]  # only the last call's rows are kept
    # Other rules (a site's learned id shapes, an --id-pattern) give other keys.
    patterned = replace(rules, id_pattern=re.compile(r"/x/(\d+)/"))
    other = kept.of(rows, patterned)
    assert other[0] is not first[0] and other[0].keys != first[0].keys
    # A newcomer sharing a context row's URL id loses the id; the context row keeps it.
    newcomer = Sighting.of(Observation(url="https://news.example/x/12345678/b", headline="New"))
    drop_ambiguous_url_ids([newcomer], first)
    assert not any(kind == "urlid" for kind, _ in newcomer.keys)
    assert any(kind == "urlid" for kind, _ in first[0].keys)
