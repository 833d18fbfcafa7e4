"""Blocked and error pages served as 200: never a version, an error check saying which.

A firewall or CAPTCHA challenge ("Just a moment..."), "Access denied", a consent wall, a
"Page not found" answered 200, a redirect to the site's home page: none of these is what
a reader of the page sees, and recorded as a version each would publish an edit that
empties the page, then another restoring it. The signals, strongest first (after EDGI's
web-monitoring-processing, `estimate_snapshot_quality`): a CDN's own header saying it
challenged the request; a redirect to a home page or a consent host; then the page's
title; then phrases challenge pages carry, only on pages with little text (an article
with a cookie banner is an article).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tracker.errors import FetchError
from tracker.fetch.client import Snapshot

# Pages with less visible text than this may be walls; a real page says more. (A title
# saying "page not found" is believed at any length: sites wrap it in all their menus.)
SHORT_PAGE_CHARS = 2000
NOT_FOUND = "a \u201cpage not found\u201d page"

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_INVISIBLE = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")
# A title's first part ("Page not found | The Herald"), matched whole.
_TITLE_PART = re.compile(r"\s+[|\u2013\u2014-]\s+|\s*::\s*")
_TITLES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a Cloudflare challenge", re.compile(r"just a moment\.*|attention required!?")),
    (
        "a CAPTCHA or bot check",
        re.compile(
            r".*\bcaptcha\b.*|are you a (?:robot|human)\??|pardon our interruption|"
            r"(?:please )?verify (?:that )?you are (?:a )?human|human verification|"
            r"security check|bot verification|one more step"
        ),
    ),
    (
        "an access-denied page",
        re.compile(
            r"access denied|403 forbidden|forbidden|request blocked|"
            r"access to this page has been denied|error: the request could not be satisfied|"
            r"you have been blocked|unauthori[sz]ed"
        ),
    ),
    (
        "a consent wall",
        re.compile(r"before you continue(?: to .*)?|.*\b(?:cookie|privacy) consent\b.*|consent"),
    ),
    (
        NOT_FOUND,
        re.compile(
            r"(?:error\s*)?404(?:\s*error)?|404\s*[:\-\u2013]?\s*(?:page |file )?not found|"
            r"error 404\b.*|(?:page |article )?not found|"
            r"page (?:cannot be|could not be) found|(?:this )?page (?:does not|doesn't) exist|"
            r"seite nicht gefunden|page introuvable|p[aá]gina no encontrada|pagina non trovata"
        ),
    ),
)
_BODY_SIGNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "a Cloudflare challenge",
        re.compile(r"cf-browser-verification|/cdn-cgi/challenge-platform/|cf_chl_opt|cf-turnstile"),
    ),
    (
        "a CAPTCHA or bot check",
        re.compile(
            r"g-recaptcha|h-captcha|px-captcha|captcha-delivery\.com|"
            r"checking your browser before accessing|enable javascript and cookies to continue",
            re.I,
        ),
    ),
    (
        "a consent wall",
        re.compile(
            r"before you continue to|we value your privacy|consent\.(?:google|yahoo)\.com|"
            r"(?:accept|agree to) (?:all )?(?:cookies|the use of cookies) to (?:continue|read)",
            re.I,
        ),
    ),
)


class BlockedPage(FetchError):
    """The server answered with a page that stands in for the one asked for."""


def why_blocked(snapshot: Snapshot) -> str | None:
    """What stands in for the page (e.g. "a Cloudflare challenge"), or None for a real page."""
    headers = snapshot.headers
    if headers.get("cf-mitigated", "").lower() == "challenge":
        return "a Cloudflare challenge (cf-mitigated: challenge)"
    if headers.get("x-amzn-waf-action", "").lower() in ("challenge", "captcha"):
        return f"an AWS WAF {headers['x-amzn-waf-action'].lower()} (x-amzn-waf-action)"
    moved = _moved_to_home_or_consent(snapshot.requested_url, snapshot.final_url)
    if moved:
        return moved
    if not _is_html(snapshot):
        return None
    text = snapshot.text
    title = _title(text)
    short = len(_visible_text(text)) < SHORT_PAGE_CHARS
    for what, pattern in _TITLES:
        if title and (short or what == NOT_FOUND) and pattern.fullmatch(title):
            return f"{what} (title {_shown(title)})"
    if short:
        for what, pattern in _BODY_SIGNS:
            if pattern.search(text):
                return f"{what} (a short page saying so)"
    return None


def check(snapshot: Snapshot) -> None:
    """Raise BlockedPage, naming what was served instead, unless this is the page itself."""
    if snapshot.not_modified:
        return
    why = why_blocked(snapshot)
    if why:
        raise BlockedPage(
            f"blocked or error page, not recorded: {why}, HTTP {snapshot.status} "
            f"from {snapshot.final_url}"
        )


def _moved_to_home_or_consent(requested: str, final: str) -> str | None:
    if requested == final:
        return None
    before, after = urlsplit(requested), urlsplit(final)
    host = (after.hostname or "").lower()
    if host.startswith("consent.") and (before.hostname or "").lower() != host:
        return f"a consent wall (redirected to {host})"
    if after.path in ("", "/") and not after.query and before.path not in ("", "/"):
        return "a redirect to the site's home page"
    return None


def _is_html(snapshot: Snapshot) -> bool:
    if "html" in (snapshot.content_type or "").lower():
        return True
    start = snapshot.text[:512].lstrip().lower()
    return start.startswith(("<!doctype html", "<html"))


def _title(text: str) -> str | None:
    match = _TITLE.search(text[:200_000])
    if not match:
        return None
    from html import unescape

    title = " ".join(unescape(_TAG.sub("", match.group(1))).split()).lower()
    return _TITLE_PART.split(title, maxsplit=1)[0].strip() or None


def _visible_text(text: str) -> str:
    return " ".join(_TAG.sub(" ", _INVISIBLE.sub(" ", text[:1_000_000])).split())


def _shown(title: str) -> str:
    return repr(title if len(title) <= 60 else title[:60] + "...")
