"""Blocked and error pages served with 200 are error checks, never versions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage import Check, Source, Version, transaction
from tracker.fetch.blocked import why_blocked
from tracker.fetch.client import Snapshot

from .conftest import FIXTURES, Site
from .test_tracking import START, add, check_all

# What is tested here does not depend on the database (see conftest.py).
pytestmark = pytest.mark.one_database

BLOCKED = FIXTURES / "blocked"
ARTICLE = "https://harbourherald.example/news/2026/03/14/estuary-floods-live"
HTML = "text/html; charset=utf-8"


def snapshot(
    text: str, final_url: str = ARTICLE, headers: dict[str, str] | None = None
) -> Snapshot:
    return Snapshot(
        requested_url=ARTICLE,
        final_url=final_url,
        status=200,
        not_modified=False,
        body=text.encode(),
        text=text,
        content_type=HTML,
        etag=None,
        last_modified=None,
        headers=headers or {},
    )


def fixture(path: str) -> str:
    return (FIXTURES / path).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("page", "verdict"),
    [
        ("blocked/cloudflare-challenge.html", "a Cloudflare challenge (title 'just a moment...')"),
        ("blocked/access-denied.html", "an access-denied page (title 'access denied')"),
        ("blocked/consent-wall.html", "a consent wall (title 'before you continue to the"),
        ("blocked/captcha.html", "a CAPTCHA or bot check (a short page saying so)"),
        ("blocked/soft-404.html", "a \u201cpage not found\u201d page (title 'page not found')"),
    ],
)
def test_walls_and_error_pages_are_named(page: str, verdict: str) -> None:
    found = why_blocked(snapshot(fixture(page)))
    assert found is not None and found.startswith(verdict)


@pytest.mark.parametrize(
    "page",
    [
        "articles/newsarticle.html",  # a cookie banner on a real article
        "articles/wordpress-1.html",
        "noise/updating-1.html",
    ],
)
def test_real_pages_are_not_walls(page: str) -> None:
    assert why_blocked(snapshot(fixture(page))) is None


def test_a_real_article_whose_title_reads_like_a_wall_is_an_article() -> None:
    text = fixture("articles/newsarticle.html").replace(
        "<title>Port authority approves £40m container terminal expansion",
        "<title>Forbidden",
    )
    assert "<title>Forbidden |" in text
    assert why_blocked(snapshot(text)) is None


def test_headers_and_redirects() -> None:
    page = fixture("articles/newsarticle.html")
    challenged = {"server": "cloudflare", "cf-mitigated": "challenge"}
    assert why_blocked(snapshot(page, headers=challenged)).startswith("a Cloudflare challenge")
    waf = why_blocked(snapshot(page, headers={"x-amzn-waf-action": "captcha"}))
    assert waf == "an AWS WAF captcha (x-amzn-waf-action)"
    home = why_blocked(snapshot(page, final_url="https://harbourherald.example/"))
    assert home == "a redirect to the site's home page"
    consent = why_blocked(snapshot(page, final_url="https://consent.harbourmedia.example/?c=1"))
    assert consent == "a consent wall (redirected to consent.harbourmedia.example)"
    moved = why_blocked(snapshot(page, final_url=ARTICLE + "-updated"))
    assert moved is None  # an article moving to a new URL is the article


def test_a_challenge_is_an_error_check_and_makes_no_version(site: Site, engine: Engine) -> None:
    """An article, then a Cloudflare challenge in its place, then the article again: one
    version, one error check naming the challenge, no edit."""
    article = fixture("noise/updating-1.html")
    url = site.publish("/news/estuary-floods-live", article, HTML)
    add(engine, url)
    assert check_all(engine, START) == {url: "changed"}
    site.publish("/news/estuary-floods-live", fixture("blocked/cloudflare-challenge.html"), HTML)
    assert check_all(engine, START + timedelta(hours=1)) == {url: "error"}
    site.publish("/news/estuary-floods-live", article, HTML)
    # The challenge's ETag was not kept: the article's still gets a 304.
    assert check_all(engine, START + timedelta(hours=2)) == {url: "not_modified"}
    with transaction(engine) as session:
        versions = session.exec(select(Version)).all()
        errors = session.exec(select(Check).where(Check.outcome == "error")).all()
        source = session.exec(select(Source)).one()
    assert len(versions) == 1
    [error] = errors
    assert error.error is not None and error.error.startswith(
        "blocked or error page, not recorded: a Cloudflare challenge (title 'just a moment...')"
    )
    assert error.http_status is None or error.http_status == 200
    assert source.consecutive_failures == 0 and source.last_error is None  # recovered


def test_a_redirect_to_the_home_page_is_an_error_check(site: Site, engine: Engine) -> None:
    url = site.publish("/news/estuary-floods-live", fixture("noise/updating-1.html"), HTML)
    site.publish("/", fixture("articles/newsarticle.html"), HTML)
    add(engine, url)
    check_all(engine, START)
    site.move("/news/estuary-floods-live", "/")
    assert check_all(engine, START + timedelta(hours=1)) == {url: "error"}
    with transaction(engine) as session:
        source = session.exec(select(Source)).one()
        assert len(session.exec(select(Version)).all()) == 1
    assert "a redirect to the site's home page" in (source.last_error or "")
