"""Publisher ids found in URLs (tracker.identity.url_ids): what is an id, what is not."""

from __future__ import annotations

from datetime import date

import pytest

from tracker.identity.url_ids import date_in_path, learned_id, stable_id, surviving_shapes


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # A 24-hex id behind "article" or "plus" (a paywall toggle), the slug rebuilt.
        (
            "https://www.welt.de/politik/article695278baba368aa0126a60cc/joshua-unfall.html",
            "https://www.welt.de/politik/ausland/plus695278baba368aa0126a60cc/zwei-tote.html",
        ),
        # A uuid after a slug made from the headline and a letter.
        (
            "https://news.example/world/floods-hit-towns-a-1b4e28ba-2fa1-41d2-883f-0016d3cca427",
            "https://news.example/world/floods-hit-towns-thousands-flee-a-1b4e28ba-2fa1-41d2-883f-0016d3cca427",
        ),
        ("https://www.bbc.com/news/world-europe-60454795", "https://bbc.com/news/uk-60454795"),
        (
            "https://www.bbc.com/news/articles/c4gzyx1d9o2o",
            "https://www.bbc.com/news/articles/c4gzyx1d9o2o?at=x",
        ),
        (
            "https://www.reuters.com/article/us-usa-election-idUSKBN27K1AB",
            "https://www.reuters.com/article/biden-wins-idUSKBN27K1AB",
        ),
        (
            "https://news.ycombinator.com/item?id=25012360",
            "https://news.ycombinator.com/item?id=25012360&p=2",
        ),
        (
            "https://paper.example/news/1234567/old-slug",
            "https://paper.example/news/1234567/new-slug",
        ),
    ],
)
def test_one_article_under_two_urls_has_one_id(first: str, second: str) -> None:
    assert stable_id(first) is not None
    assert stable_id(first) == stable_id(second)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.welt.de/politik/deutschland/",  # a section page
        "https://paper.example/2026/03/02/morning-briefing",  # a date is no id
        "https://paper.example/news/20260302/briefing",
        "https://paper.example/news/rises-to-12345-people-after-storm",  # a number in a slug
        "https://paper.example/news/flood-1234",  # too short to be an id
    ],
)
def test_urls_without_an_id(url: str) -> None:
    assert stable_id(url) is None


def test_equal_numbers_of_two_sites_or_two_folders_are_different_ids() -> None:
    assert stable_id("https://a.example/news/1234567") != stable_id(
        "https://b.example/news/1234567"
    )
    assert stable_id("https://github.com/a/b/pull/12345") != stable_id(
        "https://github.com/a/c/pull/12345"
    )


@pytest.mark.parametrize(
    ("url", "day"),
    [
        ("https://paper.example/2026/03/02/morning", date(2026, 3, 2)),
        ("https://offstream.news/news/2018/02/2/slug.md", date(2018, 2, 2)),
        ("https://paper.example/news/20260302/briefing", date(2026, 3, 2)),
        ("https://paper.example/news/briefing", None),
        ("https://paper.example/2026/13/45/x", None),
    ],
)
def test_dates_in_url_paths(url: str, day: date | None) -> None:
    assert date_in_path(url) == day


@pytest.mark.parametrize(
    ("old", "new", "shapes"),
    [
        # A short base-36 token after the slug survives the rebuilt slug.
        (
            "https://p.example/world/talks-resume-x7k2p9",
            "https://p.example/world/peace-talks-x7k2p9",
            ["tail"],
        ),
        # A short number as a whole segment before the slug.
        (
            "https://p.example/story/8841/talks-resume",
            "https://p.example/story/8841/peace-talks",
            ["segment 1"],
        ),
        # Words, years and dates are never ids; other hosts teach nothing.
        (
            "https://p.example/world/talks-resume-live",
            "https://p.example/world/peace-talks-live",
            [],
        ),
        ("https://p.example/2026/03/talks-resume", "https://p.example/2026/03/peace-talks", []),
        ("https://p.example/world/talks-x7k2p9", "https://q.example/world/peace-x7k2p9", []),
        ("https://p.example/world/talks-x7k2p9", "https://p.example/world/talks-x7k2p9", []),
    ],
)
def test_the_parts_of_a_url_that_survive_a_move(old: str, new: str, shapes: list[str]) -> None:
    assert surviving_shapes(old, new) == shapes


def test_a_learned_shape_reads_ids_scoped_by_host_and_shape() -> None:
    assert learned_id("https://p.example/world/talks-x7k2p9", ("tail",)) == (
        "p.example/learned-tail|x7k2p9"
    )
    assert learned_id("https://p.example/world/talks-live", ("tail",)) is None
    assert learned_id("https://p.example/story/8841/talks", ("segment 1",)) == (
        "p.example/learned-1|8841"
    )
    assert learned_id("https://p.example/story/8841", ("segment 1",)) is None  # the slug itself
    assert learned_id("https://p.example/world/talks-x7k2p9", ()) is None
