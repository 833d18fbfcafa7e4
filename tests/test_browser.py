"""The HTML pages in a real browser: Debian's headless Chromium driven by Playwright.

The app is served by a real uvicorn server on 127.0.0.1 over a database the tracker filled
from corpus pages (see test_http_pages.fill). The browser is never downloaded: without
/usr/bin/chromium (apt-get install chromium) these tests are skipped, unless
REDLINE_REQUIRE_SERVICES is set (as in CI), where they fail instead.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.responses import HTMLResponse

from feeds import timeline
from feeds.app import create_app
from feeds.pages import SECURITY_HEADERS
from storage import make_engine, transaction, upgrade
from tests.tools import LocalServer
from tracker.run.sources import add_source

from . import png
from .conftest import Site
from .recorded import FLOODS_CLASSES, FLOODS_HEADLINES, record_floods
from .test_http_pages import HOSTILE, KHANASIR_HEADLINE, Filled, fill
from .tools import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Injected markup that would set a marker if it ever ran.
PWN = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing: apt-get install chromium (never playwright install)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable(f"the playwright package is not installed: {exc}")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=60_000
            )
        except Exception as exc:  # the launch error names what is missing
            unavailable(f"playwright cannot launch {CHROMIUM}: {exc}")
        yield browser
        browser.close()


@dataclass
class Served:
    url: str
    filled: Filled
    floods: int  # an item with edits of every class (tests/recorded.py)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app on a real uvicorn server in a thread, over a database the tracker filled."""
    news = LocalServer(host="127.0.0.1", port=0)
    news.start()
    site = Site(news)
    news.expect_request(re.compile(".*")).respond_with_handler(site.handle)
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'redline.db'}")
    upgrade(engine)
    try:
        filled = fill(site, engine)
    finally:
        news.stop()
    floods = record_floods(engine)
    with transaction(engine) as session:
        source, _ = add_source(session, "https://example.org/hostile.md", name=PWN)
        source.last_error = f"bad page: {PWN}"
        session.add(source)

    app = create_app(engine)

    @app.get("/test/escaping-mistake", include_in_schema=False)
    def escaping_mistake() -> HTMLResponse:
        """A page as if a template forgot to escape: only the CSP stands in the way."""
        body = f"<!doctype html><title>oops</title><h1>{PWN}</h1>"
        return HTMLResponse(body, headers=SECURITY_HEADERS)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield Served(f"http://127.0.0.1:{port}", filled, floods)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        engine.dispose()


@dataclass
class Tab:
    """A page and what it reported: dialogs it opened, console errors, uncaught errors."""

    page: Any
    base: str
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base + path, wait_until="load")
        return response


def _tab(browser: Any, served: Served, **context_options: Any) -> Iterator[Tab]:
    context = browser.new_context(**context_options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    tab = Tab(page, served.url)

    def on_dialog(dialog: Any) -> None:
        tab.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: tab.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: tab.page_errors.append(str(error)))
    yield tab
    context.close()


@pytest.fixture
def tab(browser: Any, served: Served) -> Iterator[Tab]:
    yield from _tab(browser, served)


@pytest.fixture
def tab_without_js(browser: Any, served: Served) -> Iterator[Tab]:
    yield from _tab(browser, served, java_script_enabled=False)


def test_history_page_shows_insertions_and_deletions(tab: Tab, served: Served) -> None:
    response = tab.open(f"/items/{served.filled.boat}")
    assert response.status == 200
    page = tab.page
    inline = page.locator("#diff-inline")
    assert inline.is_visible()
    assert inline.locator("ins").count() >= 2  # "leaving", "eight"
    assert inline.locator("del").count() >= 2  # "with", "8"
    assert inline.locator("ins", has_text="leaving").is_visible()
    assert inline.locator("del", has_text="with").is_visible()
    # The rendered text tells them apart without colour: visible markers.
    text = inline.inner_text()
    assert "[−with−]" in text and "[+leaving+]" in text
    assert inline.locator(".mark").first.is_visible()
    assert page.locator("#diff-side").is_hidden()
    assert page.locator("table.timeline tbody tr").count() == 3
    # The front page shows the stored diffs inline too.
    tab.open("/")
    assert page.locator("ol.changes ins").count() > 0
    assert page.locator("ol.changes del").count() > 0
    assert tab.console_errors == [] and tab.page_errors == []


def test_switching_views_with_javascript(tab: Tab, served: Served) -> None:
    tab.open(f"/items/{served.filled.boat}")
    page = tab.page
    # A marker on the window: it survives only if the switch does not reload the page.
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("link", name="Side by side").click()
    side = page.locator("#diff-side")
    side.locator("table").wait_for(state="visible")
    assert page.locator("#diff-inline").is_hidden()
    assert side.locator("th", has_text="Before").is_visible()
    assert side.locator("th", has_text="After").is_visible()
    assert side.locator("del").count() > 0 and side.locator("ins").count() > 0
    assert page.evaluate("window.__sameDocument") is True
    assert "view=side" in page.url
    assert page.get_by_role("link", name="Side by side").get_attribute("aria-current") == "true"
    assert page.locator("input[name=view]").input_value() == "side"

    page.get_by_role("link", name="Inline").click()
    page.locator("#diff-inline").wait_for(state="visible")
    assert side.is_hidden()
    assert page.evaluate("window.__sameDocument") is True
    assert "view=inline" in page.url
    assert page.get_by_role("link", name="Inline").get_attribute("aria-current") == "true"
    assert tab.console_errors == [] and tab.page_errors == []


def test_switching_views_without_javascript(tab_without_js: Tab, served: Served) -> None:
    tab = tab_without_js
    tab.open(f"/items/{served.filled.boat}?from=2&to=3")
    page = tab.page
    assert page.locator("#diff-side").is_hidden()
    page.get_by_role("link", name="Side by side").click()
    page.wait_for_url("**view=side**")
    assert page.locator("#diff-side table").is_visible()
    assert page.locator("#diff-inline").is_hidden()
    assert page.locator("#diff-side ins", has_text="eight").is_visible()  # still 2 → 3
    page.get_by_role("link", name="Inline").click()
    page.wait_for_url("**view=inline**")
    assert page.locator("#diff-inline").is_visible()


def test_compare_form_picks_any_two_versions(tab: Tab, served: Served) -> None:
    tab.open(f"/items/{served.filled.boat}")
    page = tab.page
    page.locator("input[name=from]").fill("previous")
    page.locator("input[name=to]").fill("current")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**from=previous**")
    assert page.get_by_text("Version 2 → version 3").is_visible()
    page.locator("input[name=from]").fill("9")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**from=9**")
    assert page.get_by_role("alert").inner_text().startswith("no version 9")


def test_a_hostile_headline_is_text_and_never_runs(tab: Tab, served: Served) -> None:
    page = tab.page
    hostile = served.filled.hostile
    for path in (
        f"/items/{hostile}",
        "/",
        "/?q=onerror",
        "/sources",
        f"/items/{hostile}?view=side",
    ):
        response = tab.open(path)
        assert response.status == 200, path
        # Any injected onerror would have fired by now: the document and its images loaded.
        assert page.evaluate("typeof window.__pwned") == "undefined", path
        assert page.locator("main script").count() == 0, path
        assert page.locator("main img").count() == 0, path
        assert page.locator("body script").count() == (1 if path.startswith("/items") else 0)

    tab.open(f"/items/{hostile}")
    headline = page.locator("h1.headline").inner_text()
    assert (
        headline == f"{HOSTILE} {KHANASIR_HEADLINE} from ISIL militants in the Aleppo Governorate."
    )
    assert page.locator("#diff-inline ins", has_text="<script>alert(1)</script>").is_visible()
    tab.open("/sources")
    assert page.get_by_text(PWN, exact=True).first.is_visible()
    assert page.get_by_text(f"bad page: {PWN}", exact=True).is_visible()
    page.wait_for_timeout(200)  # a last chance for anything deferred to fire
    assert tab.dialogs == []
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert tab.page_errors == []


def test_the_policy_stops_script_even_if_escaping_failed(tab: Tab, served: Served) -> None:
    response = tab.open("/test/escaping-mistake")
    assert response.status == 200
    page = tab.page
    assert page.locator("h1 img").count() == 1  # the markup did get in ...
    page.wait_for_timeout(200)
    assert page.evaluate("typeof window.__pwned") == "undefined"  # ... and did not run
    assert tab.dialogs == []
    assert any("Content Security Policy" in error for error in tab.console_errors)


def test_normal_pages_break_no_policy(tab: Tab, served: Served) -> None:
    boat = served.filled.boat
    for path in ("/", "/?q=boat", "/?before=5", f"/items/{boat}", f"/items/{boat}?view=side"):
        assert tab.open(path).status == 200, path
    for path in ("/sources", "/items/999999"):
        tab.open(path)
    tab.page.get_by_role("link", name="Sources").first.click()
    tab.page.wait_for_url("**/sources")
    # The one console error is the 404 status of the unknown item's page.
    [not_found] = tab.console_errors
    assert "status of 404" in not_found
    assert tab.page_errors == []


@pytest.fixture
def phone_tab(browser: Any, served: Served) -> Iterator[Tab]:
    yield from _tab(browser, served, viewport={"width": 375, "height": 812})


def test_sources_on_a_phone_keep_the_health_column_in_view(phone_tab: Tab, served: Served) -> None:
    """At 375 px the Health column was off the right edge of the scrolling table (issue
    15): the less important columns make room for it instead."""
    page = phone_tab.page
    phone_tab.open("/sources")
    health_header = page.get_by_role("columnheader", name="Health")
    assert health_header.is_visible()
    first_health = page.locator("table.sources tbody tr:not(.error-row) td.health").first
    for cell in (health_header, first_health):
        box = cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, box
    assert first_health.inner_text().strip()
    assert page.get_by_role("columnheader", name="Kind").is_hidden()  # made room
    # A wide window shows every column.
    page.set_viewport_size({"width": 1280, "height": 800})
    assert page.get_by_role("columnheader", name="Kind").is_visible()


def rgb(colour: str) -> tuple[int, int, int]:
    value = int(colour.lstrip("#"), 16)
    return (value >> 16, (value >> 8) & 0xFF, value & 0xFF)


def has_colour(pixels: set[tuple[int, int, int]], colour: str, tolerance: int = 3) -> bool:
    want = rgb(colour)
    return any(all(abs(a - b) <= tolerance for a, b in zip(p, want, strict=True)) for p in pixels)


def test_item_timeline_strip_in_a_screenshot(tab: Tab, served: Served) -> None:
    """The strip is drawn: one mark per change, left to right in time, in the class colours
    (read back from the screenshot's pixels), with its legend in words."""
    assert tab.open(f"/items/{served.floods}").status == 200
    page = tab.page
    strip = page.locator("svg.strip")
    assert strip.is_visible()
    box = strip.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 10, box
    marks = strip.locator("a.mark")
    assert marks.count() == len(FLOODS_HEADLINES) == page.locator("table.timeline tbody tr").count()
    lefts = []
    for index in range(marks.count()):
        mark_box = marks.nth(index).bounding_box()
        assert mark_box is not None and mark_box["width"] > 0 and mark_box["height"] > 0
        lefts.append(mark_box["x"])
    assert lefts == sorted(lefts) and len(set(lefts)) == len(lefts)
    tones = [marks.nth(i).get_attribute("data-tone") for i in range(marks.count())]
    assert tones == [cls or "other" for cls in FLOODS_CLASSES]
    # The tooltip of each mark names its class and headline.
    title = marks.nth(1).locator("title").text_content() or ""
    assert "substantive edit" in title and FLOODS_HEADLINES[1] in title

    shot = png.decode(page.screenshot())
    viewport = page.viewport_size
    assert (shot.width, shot.height) == (viewport["width"], viewport["height"])
    assert len(shot.pixels()) > 10  # not blank
    strip_shot = png.decode(strip.screenshot())
    pixels = strip_shot.pixels()
    for tone in ("substantive", "rewording", "style", "other"):
        assert has_colour(pixels, timeline.TONE_BY_NAME[tone].colour), tone
    assert not has_colour(pixels, timeline.TONE_BY_NAME["listing"].colour)  # none here
    # The legend says the classes in words.
    legend = page.locator("ul.legend")
    assert legend.is_visible()
    for label in ("substantive edit (1)", "rewording (1)", "style or minor edit (2)"):
        assert legend.get_by_text(label).is_visible()
    assert tab.console_errors == [] and tab.page_errors == []


def test_a_removed_item_strip_shows_its_listing_events(tab: Tab, served: Served) -> None:
    tab.open(f"/items/{served.filled.youtube}")
    strip = tab.page.locator("svg.strip")
    assert strip.locator("a.mark").count() == 3
    pixels = png.decode(strip.screenshot()).pixels()
    assert has_colour(pixels, timeline.TONE_BY_NAME["listing"].colour)
    assert not has_colour(pixels, timeline.TONE_BY_NAME["substantive"].colour)


def test_strip_marks_link_to_their_versions_without_javascript(
    tab_without_js: Tab, served: Served
) -> None:
    tab = tab_without_js
    tab.open(f"/items/{served.floods}")
    page = tab.page
    page.locator("svg.strip a.mark[data-tone=substantive]").click()
    page.wait_for_url("**#v2")
    row = page.locator("tr#v2")
    assert row.is_visible() and row.locator(".badge.substantive").is_visible()
    assert row.get_by_text("headline: number changed: 8 → 12").is_visible()


def test_recent_page_class_links_filter(tab: Tab, served: Served) -> None:
    tab.open("/")
    page = tab.page
    nav = page.get_by_role("navigation", name="Class of edits")
    assert nav.get_by_role("link", name="Editorial").get_attribute("aria-current") == "true"
    assert page.locator("ol.changes .badge.style").count() == 0  # not by default

    nav.get_by_role("link", name="Style").click()
    page.wait_for_url("**/?kind=style")
    badges = page.locator("ol.changes > li .meta .badge")
    assert badges.count() == 2  # the floods item's two style edits
    assert {badges.nth(i).inner_text() for i in range(badges.count())} == {"style"}
    assert nav.get_by_role("link", name="Style").get_attribute("aria-current") == "true"

    nav.get_by_role("link", name="Removed or restored").click()
    page.wait_for_url("**/?kind=listing")
    kinds = {badges.nth(i).inner_text() for i in range(badges.count())}
    assert kinds == {"removed", "restored"}

    nav.get_by_role("link", name="Substantive").click()
    page.wait_for_url("**/?kind=substantive")
    assert badges.count() >= 3
    assert {badges.nth(i).inner_text() for i in range(badges.count())} == {"substantive"}
    assert tab.console_errors == [] and tab.page_errors == []
