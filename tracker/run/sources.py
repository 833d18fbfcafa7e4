"""Adding sources: validated, and idempotent (adding a known URL again changes nothing)."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlmodel import Session

from storage import Source, source_queries, utcnow
from tracker.compare import noise
from tracker.errors import UserError
from tracker.extract import KINDS
from tracker.fetch.addresses import check_url_host
from tracker.identity.match import compile_id_pattern
from tracker.identity.sites import site_of
from tracker.normalise import canonical_url, check_http_url
from tracker.run.schedule import check_cron, cron_trigger
from tracker.tuning import BY_OPTION, check_tuning

# The longest source URL taken: what servers and browsers reliably handle (the JSON API
# refuses longer ones too).
MAX_URL_LENGTH = 2048
# A host name as DNS carries it (RFC 1035 2.3.4): labels of 1 to 63 characters, 253 in all.
# Letters, digits, hyphens, and the underscore some real hosts use; other scripts as IDNA.
_HOST_LABEL = re.compile(r"[a-z0-9_-]+")
MAX_LABEL_LENGTH = 63
MAX_HOST_LENGTH = 253
MAX_SITE_LENGTH = 253


def add_source(
    session: Session,
    url: str,
    kind: str = "auto",
    name: str | None = None,
    every: timedelta | None = None,
    options: dict[str, Any] | None = None,
    cron: str | None = None,
    site: str | None = None,
) -> tuple[Source, bool]:
    """The source for this URL, and whether it was added now (False: it was there already).

    options: "map" (listing field → path), "items" (where a JSON listing's records
    are), "id_pattern" (a regex finding an item's id in its URL), "ignore" (regexes for
    text that is noise: taken out of comparisons, see tracker.compare.noise), "headline_test_hours"
    (how long a headline may come back and make a headline test), "match_window_hours"
    (how long a departed item may still be paired by fuzzy identity), "match_threshold"
    (fuzzy identity, 0–1; above 1 turns it off). cron: a crontab line (UTC) giving the
    check times instead of an interval. site: the group of sources whose items it shares
    (tracker.identity.sites; default: its URL's host without "www.").
    """
    url = check_source_url(url)
    check_url_host(url)  # a literal private address; host names are checked at fetch time
    if kind not in KINDS:
        raise UserError(f"unknown source kind {kind!r} (known: {', '.join(KINDS)})")
    options = {key: value for key, value in (options or {}).items() if value not in (None, {}, "")}
    if "id_pattern" in options:
        compile_id_pattern(options["id_pattern"])
    if "ignore" in options:
        options["ignore"] = noise.check_patterns(options["ignore"])
    for key in TUNING:
        if key in options:
            options[key] = check_tuning(key, options[key])
    if cron is not None:
        if every is not None:
            raise UserError("give --every or --cron, not both")
        cron = check_cron(cron)
    site = check_site(site) if site is not None else None
    existing = tracked_source(session, url)
    if existing is not None:
        return existing, False
    source = Source(
        url=url,
        site=site or site_of(url),
        kind=kind,
        name=name,
        interval_seconds=int(every.total_seconds()) if every else None,
        cron=cron,
        options=options,
    )
    session.add(source)
    session.flush()
    return source, True


def check_site(site: str) -> str | None:
    """A site name as given (stripped, lower case); None for blank (the URL's host)."""
    site = " ".join(site.split()).lower()
    if len(site) > MAX_SITE_LENGTH:
        raise UserError(f"a site name is at most {MAX_SITE_LENGTH} characters, not {len(site)}")
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in site):
        raise UserError("a site name cannot hold control characters")
    return site or None


def check_source_url(url: str) -> str:
    """The URL, stripped, if redline can fetch it: http(s), at most MAX_URL_LENGTH long, no
    control characters, a port from 1 to 65535 and a host name DNS can carry (or an IP
    address). Else a UserError giving one reason. Used by `redline add`, the configuration
    and the JSON API alike."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise UserError(f"URL too long: {len(url)} characters (at most {MAX_URL_LENGTH})")
    control = next((char for char in url if unicodedata.category(char) in ("Cc", "Cf")), None)
    if control is not None:  # an escape sequence would reach terminals and logs
        raise UserError(f"a URL cannot hold the control character {control!r}: {_shown(url)}")
    try:
        parsed = httpx.URL(url)  # as the fetcher will read it
    except (httpx.InvalidURL, ValueError) as error:  # IDNA errors are ValueErrors
        raise UserError(f"not a URL redline can fetch: {_shown(url)} ({error})") from None
    url = check_http_url(url)
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise UserError(f"the port of a URL is from 1 to 65535, not {parsed.port}: {_shown(url)}")
    _check_host(parsed.raw_host.decode("ascii"), url)
    return url


def _check_host(host: str, url: str) -> None:
    """A UserError unless `host` (as sent: IDNA for other scripts) is an IP address or a
    host name DNS can carry."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    name = host.removesuffix(".")  # "example.org." is fully qualified, and fine
    for label in name.split("."):
        if not label:
            raise UserError(f"the host of a URL cannot have an empty label ('..'): {_shown(url)}")
        if len(label) > MAX_LABEL_LENGTH:
            raise UserError(
                f"the host of a URL has a label of {len(label)} characters (at most "
                f"{MAX_LABEL_LENGTH} between dots): {_shown(url)}"
            )
        if not _HOST_LABEL.fullmatch(label):
            shown_host = urlsplit(url).hostname
            raise UserError(f"not a host name: {shown_host!r} in {_shown(url)}")
    if len(name) > MAX_HOST_LENGTH:
        raise UserError(f"the host of a URL is at most {MAX_HOST_LENGTH} characters: {_shown(url)}")


def _shown(url: str) -> str:
    """The URL for an error message: quoted with escapes, shortened if long."""
    return repr(url if len(url) <= 100 else url[:100] + "...")


def tracked_source(session: Session, url: str) -> Source | None:
    """The source tracking this URL already: with this very URL, or one that is the same
    in canonical form (case of scheme and host, default port, fragment, utm_* parameters)."""
    existing = source_queries.source_by_url(session, url)
    if existing is not None:
        return existing
    canonical = canonical_url(url)
    host = urlsplit(url).hostname or ""
    for source_id, stored_url in source_queries.source_urls_mentioning(session, host):
        if _canonical_or_none(stored_url) == canonical:
            return session.get(Source, source_id)
    return None


def _canonical_or_none(url: str) -> str | None:
    try:
        return canonical_url(url)
    except ValueError:  # stored before URLs were checked (a port past 65535, say)
        return None


# -- changing a source: `redline source edit|enable|disable` and PATCH /api/sources/{id} ----

TUNING = tuple(BY_OPTION)  # a source's tuning options (tracker/tuning.py)
EDITABLE = ("name", "enabled", "every", "cron", "site", "ignore", *TUNING)


class UnknownSource(UserError):
    """No source has this id (the API answers 404)."""


def edit_source(session: Session, source_id: int, changes: Mapping[str, Any]) -> Source:
    """Change a source's name, whether it is checked, when, or its tuning; one code path
    for the CLI and the API, so both accept and refuse the same.

    changes holds only what changes: "name" (None or blank clears it), "enabled",
    "every" (a timedelta; None: back to the default schedule), "cron" (a crontab
    line; None: none), "site" (None or blank: the URL's host; it groups the source with
    other sources, and items they recorded apart under one alias are merged on the next
    check that names them) or "ignore" (the noise patterns, replacing any; None or []:
    none), or a TUNING option ("headline_test_hours", "match_threshold",
    "match_window_hours"; None: back to the default). "every" replaces a cron line and
    "cron" an interval; a sooner schedule applies now, not after the next check.
    """
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise UserError(f"a source's {', '.join(sorted(unknown))} cannot be changed")
    if changes.get("every") is not None and changes.get("cron") is not None:
        raise UserError("give --every or --cron, not both")
    source = session.get(Source, source_id)
    if source is None:
        raise UnknownSource(f"no source {source_id}")
    if "name" in changes:
        name = changes["name"]
        source.name = name.strip() if name and name.strip() else None
    if changes.get("enabled") is not None:
        source.enabled = bool(changes["enabled"])
    if "every" in changes:
        _set_interval(source, changes["every"])
    if "cron" in changes:
        _set_cron(source, changes["cron"])
    if "site" in changes:
        site = changes["site"]
        source.site = (check_site(site) if site is not None else None) or site_of(source.url)
    if "ignore" in changes:
        patterns = noise.check_patterns(changes["ignore"] or [])
        options = {key: value for key, value in (source.options or {}).items() if key != "ignore"}
        source.options = {**options, "ignore": patterns} if patterns else options
    for key in TUNING:
        if key in changes:
            value = changes[key]
            options = {name: v for name, v in (source.options or {}).items() if name != key}
            source.options = (
                options if value is None else {**options, key: check_tuning(key, value)}
            )
    session.add(source)
    session.flush()
    return source


def _set_interval(source: Source, every: timedelta | None) -> None:
    """Every so often (None: the default schedule), in place of any cron line."""
    source.interval_seconds = int(every.total_seconds()) if every else None
    source.cron = None
    if every and source.last_checked_at and source.next_check_at:
        source.next_check_at = min(source.next_check_at, source.last_checked_at + every)


def _set_cron(source: Source, cron: str | None) -> None:
    if cron is None:
        source.cron = None
        return
    cron = check_cron(cron)  # it parses, and fires within a few years
    upcoming = cron_trigger(cron).get_next_fire_time(None, utcnow())
    source.cron, source.interval_seconds = cron, None
    if source.next_check_at and upcoming:
        source.next_check_at = min(source.next_check_at, upcoming)
