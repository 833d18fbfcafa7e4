"""The HTML pages: recent edits (/, ?kind= as the edits feed), an item's history with its
timeline strip (/items/{id}, the strip drawn by feeds/timeline.py), sources (/sources).

Server-rendered with Jinja2 (feeds/templates), no build step, no external assets. Every
template is autoescaped and text from sources is never marked safe: the only markup marked
safe is the diff HTML of tracker.present.render, which escapes the text it shows itself. A strict
Content-Security-Policy allows no script but the one inline view switch (by its hash), so
even an escaping mistake could not run injected script.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from sqlmodel import Session
from starlette.responses import Response

from feeds import feed_query, timeline
from feeds.deps import SessionDep, SettingsDep
from feeds.settings import ServiceSettings
from storage import Change, Item, Source, Version, change_pages, parse_id, queries, source_queries
from tracker.errors import UserError
from tracker.normalise import redact_url
from tracker.present import render
from tracker.record import history
from tracker.run.status import source_health

router = APIRouter()

TEMPLATES = Path(__file__).parent / "templates"
templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)

# The front page's ?kind= filters, with the feeds' values and meaning (feeds/feed_query.py
# filters both); minor, the old name of style, is accepted but not offered.
KIND_LABELS = {
    "editorial": "Editorial",
    "all": "All edits",
    "substantive": "Substantive",
    "rewording": "Rewording",
    "style": "Style",
    "listing": "Removed or restored",
}
KIND_DESCRIPTIONS = {
    "editorial": "substantive and rewording edits, and headline tests",
    "all": "every edit and headline test, style edits too",
    "substantive": "substantive edits only",
    "rewording": "rewording edits only",
    "style": "style edits only",
    "minor": "style edits only",
    "listing": "items that left their source's listing or came back to it",
}
DEFAULT_KIND = "editorial"
MAX_PAGE_SIZE = 200
MAX_QUERY_CHARS = 200
VIEWS = ("inline", "side")

# The one script of the pages: switches the item page between its inline and side-by-side
# diffs without a reload. Without JavaScript the same links (?view=...) reload the page.
SWITCH_SCRIPT = """
(function () {
  "use strict";
  var links = document.querySelectorAll("a[data-view]");
  var panels = document.querySelectorAll("[data-view-panel]");
  var field = document.querySelector("input[name=view]");
  function show(view) {
    panels.forEach(function (panel) {
      panel.hidden = panel.getAttribute("data-view-panel") !== view;
    });
    links.forEach(function (link) {
      if (link.getAttribute("data-view") === view) {
        link.setAttribute("aria-current", "true");
      } else {
        link.removeAttribute("aria-current");
      }
    });
    if (field) {
      field.value = view;
    }
  }
  links.forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
        return;
      }
      event.preventDefault();
      show(link.getAttribute("data-view"));
      history.replaceState(null, "", link.href);
    });
  });
})();
"""
SWITCH_SCRIPT_HASH = "sha256-" + base64.b64encode(
    hashlib.sha256(SWITCH_SCRIPT.encode("utf-8")).digest()
).decode("ascii")

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'unsafe-inline'",  # the <style> block and the diff's inline styles
        f"script-src '{SWITCH_SCRIPT_HASH}'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _http_url(value: str | None) -> str | None:
    """The URL if it is http(s), else None: a source's javascript: link is never a link."""
    if not value:
        return None
    try:
        scheme = urlsplit(value.strip()).scheme.lower()
    except ValueError:
        return None
    return value.strip() if scheme in ("http", "https") else None


def _host(value: str | None) -> str:
    try:
        return urlsplit(value or "").hostname or (value or "")
    except ValueError:
        return value or ""


templates.env.filters.update(
    when=_when, iso=_iso, percent=_percent, http_url=_http_url, host=_host, redact_url=redact_url
)
templates.env.globals.update(switch_script=Markup(SWITCH_SCRIPT))


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=SECURITY_HEADERS
    )


def _message(request: Request, status_code: int, title: str, message: str) -> Response:
    context = {"title": title, "message": message, "status": status_code}
    return _page(request, "message.html", context, status_code=status_code)


def _page_size(settings: ServiceSettings) -> int:
    return max(1, min(settings.page_size, MAX_PAGE_SIZE))


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def recent_page(
    request: Request,
    session: Session = SessionDep,
    settings: ServiceSettings = SettingsDep,
    q: str = "",
    before: str = "",
    kind: str = "",
) -> Response:
    """The recent edits of a class (?kind=, as the edits feed), newest first, with their
    diffs; or the items a search finds."""
    size = _page_size(settings)
    query = " ".join(q.split())[:MAX_QUERY_CHARS]
    context: dict[str, Any] = {"q": query, "page_size": size}
    if query:
        found = list(queries.search_items(session, query, size + 1, plain=True))
        # Only the sources the page names: one IN list, not every source there is.
        shown = {item.source_id for item in found[:size]}
        sources = queries.sources_by_ids(session, shown, plain=True)
        context.update(found=found[:size], more_found=len(found) > size, sources=sources)
        return _page(request, "search.html", context)

    kind = kind.strip()
    if kind and kind not in feed_query.KINDS:
        shown = f"{kind[:40]!r}"
        return _message(
            request,
            400,
            "Bad request",
            f"unknown kind {shown}: one of {', '.join(feed_query.KINDS)}",
        )
    before_id: int | None = None
    if before:
        before_id = parse_id(before)
        if before_id is None:
            return _message(request, 400, "Bad request", f"not a change id: {before[:40]!r}")
    # The edits feed's filter, so the page and the feed of a kind always agree.
    feed = feed_query.FeedQuery("edits", kind=kind or None)
    changes = list(
        change_pages.change_page(
            session, feed.change_kinds(), size + 1, before_id, **feed.filters(), plain=True
        )
    )
    older = changes[size - 1].id if len(changes) > size else None
    changes = changes[:size]
    read = queries.items_by_ids(session, [c.item_id for c in changes], plain=True)
    items = {item.id: item for item in read}
    sources = queries.sources_by_ids(session, {c.source_id for c in changes}, plain=True)
    bases = queries.diff_bases(session, changes)
    entries = [
        {
            "change": change,
            "item": items.get(change.item_id),
            "source": sources.get(change.source_id),
            "diff": Markup(
                render.render_fields_html(
                    history.stored_diff_ops(change, bases.get(change.from_version_id or 0)),
                    markers=True,
                )
            ),
        }
        for change in changes
    ]

    def link(**params: int | str | None) -> str:
        """A link to this page, keeping the kind asked for."""
        pairs = {"kind": kind or None} | params
        query = urlencode({name: value for name, value in pairs.items() if value})
        return f"/?{query}" if query else "/"

    context.update(
        entries=entries,
        before=before_id,
        older=older,
        sources=sources,
        kind=kind or DEFAULT_KIND,
        kind_shown=feed_query.KIND_ALIASES.get(kind, kind or DEFAULT_KIND),  # minor: style's link
        kind_description=KIND_DESCRIPTIONS[kind or DEFAULT_KIND],
        kind_links={name: link(kind=name) for name in KIND_LABELS},
        kind_labels=KIND_LABELS,
        newest_link=link(),
        older_link=link(before=older) if older else None,
    )
    return _page(request, "recent.html", context)


@router.get("/items/{item_id}", response_class=HTMLResponse, include_in_schema=False)
def item_page(
    request: Request,
    item_id: str,
    session: Session = SessionDep,
    from_ref: str = Query("", alias="from"),
    to_ref: str = Query("", alias="to"),
    view: str = "inline",
) -> Response:
    """An item's timeline, every URL it has had, and a diff of any two of its versions."""
    known = parse_id(item_id)
    # Plain rows throughout: the page only reads them (storage.queries.plain_rows).
    item = queries.row_by_id(session, Item, known) if known is not None else None
    if item is None or item.id is None:
        return _message(request, 404, "No such item", f"There is no item {item_id[:40]!r}.")
    versions = list(queries.versions_of(session, item.id, plain=True))
    changes = list(queries.changes_of(session, item.id, plain=True))
    version_ids = [version.id for version in versions]
    from_ref = from_ref.strip() or "first"
    to_ref = to_ref.strip() or "current"
    view = view if view in VIEWS else "inline"

    compare, error = None, None
    if versions:
        try:
            new = history.pick_version(versions, to_ref)
            old = history.pick_version(versions, from_ref, before=new)
        except UserError as exc:
            error = str(exc)
        else:
            field_ops = history.readable_diff(history.diff_versions(old, new))
            compare = {
                "old": old,
                "new": new,
                # Markers tell a deletion from an insertion without colour (and to screen
                # readers, which ignore <del>/<ins>); side by side, the columns do.
                "inline": Markup(render.render_fields_html(field_ops, markers=True)),
                "side": Markup(render.render_side_by_side(field_ops)),
            }

    def link(**params: str) -> str:
        return "?" + urlencode({"from": from_ref, "to": to_ref, "view": view} | params)

    context = {
        "item": item,
        "source": queries.row_by_id(session, Source, item.source_id),
        "urls": queries.alias_values(session, item.id, "url"),
        "rows": _timeline(versions, changes, queries.archived_urls(session, version_ids)),
        "strip": _strip(item, versions, changes),
        "events": [c for c in changes if c.kind in ("removed", "restored")],
        "identity": queries.identity_log(session, item.id),
        "versions": versions,
        "from_ref": from_ref,
        "to_ref": to_ref,
        "view": view,
        "view_links": {name: link(view=name) + "#compare" for name in VIEWS},
        "compare": compare,
        "error": error,
    }
    return _page(request, "item.html", context, status_code=400 if error else 200)


def _timeline(
    versions: list[Version], changes: list[Change], archived: dict[int, str]
) -> list[dict[str, Any]]:
    """Each version with the change that made it, a link to its diff from the one before
    and, if the Wayback Machine saved its page ([archive]), a link to that copy."""
    made_by = history.change_per_version(changes)
    rows = []
    for index, version in enumerate(versions):
        previous = versions[index - 1] if index else None
        diff_link = (
            "?" + urlencode({"from": previous.n, "to": version.n}) + "#compare"
            if previous
            else None
        )
        rows.append(
            {
                "version": version,
                "change": made_by.get(version.n),
                "diff": diff_link,
                "archived": _http_url(archived.get(version.id or 0)),
            }
        )
    return rows


def _strip(item: Item, versions: list[Version], changes: list[Change]) -> timeline.Strip:
    """The timeline strip: every change from the item's first to its last sighting.

    A change that made a version is placed when that version was observed and links to
    its row (its occurred_at may be the time its page reported, years before redline saw
    it); a removal or restoration, which makes none, when it was seen, linking to its line.
    """
    by_n = {version.n: version for version in versions}
    events = []
    for change in changes:
        made = by_n.get(change.to_n or 0) if change.kind in history.VERSION_MAKING_KINDS else None
        events.append(
            timeline.StripEvent(
                at=made.observed_at if made else change.occurred_at,
                kind=change.kind,
                classification=change.classification,
                description=_describe(change, made.headline if made else None),
                anchor=f"v{made.n}" if made else f"change-{change.id}",
            )
        )
    label = f"Timeline of the item's {len(changes)} changes, oldest on the left"
    return timeline.build(events, item.first_seen_at, item.last_seen_at, label)


def _describe(change: Change, headline: str | None) -> str:
    """A change in a few words for the strip's tooltips: what it did, then the headline."""
    version = f"version {change.to_n}"
    what = {
        "created": f"{version}, first seen",
        "edited": f"{version}: "
        + ("; ".join(change.reasons or []) or ", ".join(change.fields) or "edited"),
        "headline_test": f"{version}: headline test: {' / '.join(change.variants or [])}",
        "headline_flip": f"{version}: the headline test switched",
        "shown": f"{version}: first shown: {', '.join(change.fields)}",
        "removed": "no longer listed by its source",
        "restored": "listed by its source again",
    }.get(change.kind, change.kind)
    return f"{what} · “{headline}”" if headline and change.kind != "headline_test" else what


@router.get("/sources", response_class=HTMLResponse, include_in_schema=False)
def sources_page(
    request: Request,
    session: Session = SessionDep,
    settings: ServiceSettings = SettingsDep,
    after: str = "",
) -> Response:
    """The sources with their health (as `redline sources` and `status` tell it): last and
    next check, failures, last error; a page at a time, in id order."""
    size = _page_size(settings)
    after_id: int | None = None
    if after:
        after_id = parse_id(after)
        if after_id is None:
            return _message(request, 400, "Bad request", f"not a source id: {after[:40]!r}")
    rows = list(source_queries.source_page(session, size + 1, after=after_id))
    sources = rows[:size]
    context = {
        "sources": sources,
        "health": {s.id: source_health(s, settings.failing_after) for s in sources},
        "counts": queries.item_counts(session, [s.id or 0 for s in sources]),
        "after": after_id,
        "next_link": f"/sources?after={sources[-1].id}" if len(rows) > size else None,
    }
    return _page(request, "sources.html", context)
