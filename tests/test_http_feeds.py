"""The Atom feeds over HTTP and as static files, on a database filled by the real tracker.

Corpus pages (tests/fixtures/offstream) are replayed from a local site through
check_round, hour by hour: three edited item pages, one page that carries six headline
versions, and a day index whose YouTube item leaves and comes back while its Mexico item
(the only one with tags) is edited and retagged. Every feed page is read by feedparser
and validated against RFC 4287's RELAX NG schema with jing (tests/fixtures/atom).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import feedparser
import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy.engine import Engine
from sqlmodel import select

from feeds import atom, feed_names, feed_query
from feeds.app import create_app
from feeds.routes_feeds import etag_matches, http_date, not_modified
from feeds.settings import ServiceSettings
from storage import Change, Version, queries, transaction
from tracker.cli.reading import FEED_KINDS
from tracker.record import history
from tracker.run.rounds import check_round
from tracker.run.sources import add_source

from .conftest import Site, filled_per_module, manifest_snapshots, offstream_page
from .tools import require_html2text, require_tool, text_reader

SCHEMA = Path(__file__).parent / "fixtures" / "atom" / "atom.rnc"
PUBLIC = "https://redline.example/watch"  # with a path: links must keep it
AUTHORITY = "news.example.org"
PAGE_SIZE = 4
START = datetime(2026, 1, 1, tzinfo=UTC)
ATOM_NS = "{http://www.w3.org/2005/Atom}"
MEXICO_TAG = "Venezuela"
ODD_TAG = "Q&A / Test"  # needs percent-encoding, and a safe file name
CHANGE_ID = re.compile(r"tag:news\.example\.org,\d{4}-\d\d-\d\d:change/(\d+)")


@dataclass
class Corpus:
    """What the filled database holds (each test reads a copy of it) that the tests look for,
    and the site its sources point at."""

    site: Site
    clock: list[datetime]
    index_url: str
    index_page: str
    items: dict[str, int] = field(default_factory=dict)  # nunes, youtube, mexico, ivorian
    sources: list[int] = field(default_factory=list)

    @property
    def host(self) -> str:
        """The site's host: a source's name, in feed titles and entries."""
        return urlsplit(self.site.url("/")).hostname or ""

    def tick(self) -> datetime:
        self.clock[0] += timedelta(hours=1)
        return self.clock[0]


def _check_all(engine: Engine, when: datetime) -> None:
    outcomes = {r.url: r.outcome for r in check_round(engine, now=when, all_sources=True)}
    assert "error" not in outcomes.values(), outcomes


def _add(engine: Engine, url: str) -> int:
    with transaction(engine) as session:
        source, _ = add_source(session, url)
        assert source.id is not None
        return source.id


def _replay(site: Site, engine: Engine, chain: str, corpus: Corpus) -> int:
    snapshots = manifest_snapshots(chain)
    source_id = _add(engine, site.url(snapshots[0]["url"]))
    current = None
    for snapshot in snapshots:
        if current and current != snapshot["url"]:
            site.move(current, snapshot["url"])
        current = snapshot["url"]
        site.publish(current, offstream_page(snapshot["file"]))
        _check_all(engine, corpus.tick())
    return source_id


def _item_with(engine: Engine, words: str) -> int:
    with transaction(engine) as session:
        version = session.exec(
            select(Version).where(Version.headline.contains(words))  # type: ignore[union-attr]
        ).first()
        assert version is not None, words
        return version.item_id


def fill(site: Site, engine: Engine) -> Corpus:
    first, _ = manifest_snapshots("day-index-2018-02-02")
    index = offstream_page(first["file"])
    corpus = Corpus(site, [START], site.url(first["url"]), index)
    corpus.sources.append(_replay(site, engine, "nunes-memo-2018-02-02", corpus))
    corpus.sources.append(_replay(site, engine, "boat-borneo-2018-01-01", corpus))
    [ivorian] = manifest_snapshots("ivorian-soldiers-2018-01-10")
    corpus.sources.append(
        _add(engine, site.publish(ivorian["url"], offstream_page(ivorian["file"])))
    )

    start = index.index("##### History of YouTube")
    without = index[:start] + index[index.index("#####", start + 5) :]
    edited = index.replace('rejects "any option', 'firmly rejects "any option', 1)
    retagged = edited.replace(
        "Mexico-United States relations_", f"Mexico-United States relations, {ODD_TAG}_", 1
    ).replace("Critics warn this situation is perilous.", "Critics warn this is perilous.", 1)
    corpus.sources.append(_add(engine, site.publish(first["url"], index)))
    for page in (index, without, edited, retagged):
        site.publish(first["url"], page)
        _check_all(engine, corpus.tick())
    corpus.index_page = retagged
    corpus.items = {
        "nunes": _item_with(engine, "Nunes memo, against the wishes of the FBI, Department"),
        "youtube": _item_with(engine, "YouTube announces"),
        "mexico": _item_with(engine, "firmly rejects"),
        "ivorian": _item_with(engine, "Ivorian"),
    }
    return corpus


# Every test here reads its own copy of the filled database (db_url, engine, cli).
filled_database, db_url = filled_per_module("feeds", fill, {"db_url"})


@pytest.fixture
def corpus(filled_database: tuple[str, Corpus]) -> Corpus:
    return filled_database[1]


def settings(**overrides: object) -> ServiceSettings:
    values: dict[str, object] = {
        "public_url": PUBLIC,
        "tag_authority": AUTHORITY,
        "page_size": PAGE_SIZE,
    }
    values.update(overrides)
    return ServiceSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    app = create_app(engine, settings())
    # These tests record a change and read the feed at once: the change log's generation
    # is read on every request (the service reads it at most twice a second, and
    # tests/test_hot_pages.py checks that a change is served within a second).
    app.state.hot_pages.refresh = 0
    with TestClient(app) as test_client:
        yield test_client


def feed_changes(
    engine: Engine,
    kind: str | None = None,
    kinds: tuple[str, ...] = feed_query.EDIT_KINDS,
    **where: object,
) -> list[Change]:
    """The changes a feed with this ?kind= shows (None: the default, editorial; an edits
    feed: edits only), newest first, straight from the database."""
    classes = {
        None: ("substantive", "rewording", None),
        "editorial": ("substantive", "rewording", None),
        "all": None,
        "minor": ("style",),
    }.get(kind, (kind,))
    with transaction(engine) as session:
        changes = session.exec(
            select(Change)
            .where(Change.kind.in_(kinds))  # type: ignore[attr-defined]
            .order_by(Change.id.desc())  # type: ignore[union-attr]
        ).all()
    return [
        c
        for c in changes
        if (classes is None or c.classification in classes)
        and all(getattr(c, k) == v for k, v in where.items())
    ]


def local(url: str) -> str:
    """A link of a feed as a path for the test client (they all start with PUBLIC)."""
    assert url.startswith(PUBLIC + "/"), url
    return url[len(PUBLIC) :]


def same_url(one: str, two: str) -> bool:
    """The same address, whatever the order of the query parameters."""
    a, b = urlsplit(one), urlsplit(two)
    return a._replace(query="") == b._replace(query="") and sorted(parse_qsl(a.query)) == sorted(
        parse_qsl(b.query)
    )


def links(document: bytes) -> dict[str, str]:
    """The feed-level links by rel."""
    root = etree.fromstring(document)
    return {node.get("rel"): node.get("href") for node in root.findall(f"{ATOM_NS}link")}


def walk(client: TestClient, path: str) -> list[tuple[str, bytes]]:
    """Every page of a feed, following rel="next" from the newest page."""
    pages: list[tuple[str, bytes]] = []
    url: str | None = path
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["content-type"].startswith("application/atom+xml")
        pages.append((url, response.content))
        nxt = links(response.content).get("next")
        url = local(nxt) if nxt else None
        assert len(pages) < 50
    return pages


def entry_change_ids(document: bytes) -> list[int]:
    parsed = feedparser.parse(document)
    return [int(m.group(1)) for e in parsed.entries if (m := CHANGE_ID.fullmatch(e.id))]


def all_feed_paths(corpus: Corpus) -> list[str]:
    paths = ["/feeds/edits.atom", "/feeds/edits.atom?kind=listing"]
    paths += [f"/feeds/sources/{s}.atom" for s in corpus.sources]
    paths += [f"/feeds/sources/{s}/listing.atom" for s in corpus.sources]
    paths += [f"/feeds/items/{i}.atom" for i in corpus.items.values()]
    paths += [f"/feeds/tags/{quote(t, safe='')}.atom" for t in (MEXICO_TAG, ODD_TAG, "nothing")]
    filtered = [
        f"{p}?{q}"
        for p in ("/feeds/edits.atom", f"/feeds/items/{corpus.items['ivorian']}.atom")
        for q in ("kind=substantive", "kind=minor", "field=headline", "field=tags&kind=minor")
    ]
    return paths + filtered


def require_jing() -> str:
    return require_tool("jing", "RELAX NG check")


@pytest.mark.parametrize(
    ("require", "name"), [(require_jing, "jing"), (require_html2text, "html2text")]
)
def test_without_the_tool_its_tests_skip_or_fail_when_required(
    monkeypatch: pytest.MonkeyPatch, require: Callable[[], str], name: str
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("REDLINE_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"{name} is not installed"):
        require()
    monkeypatch.setenv("REDLINE_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="REDLINE_REQUIRE_SERVICES"):
        require()


def assert_valid_atom(documents: dict[str, bytes], tmp_path: Path) -> None:
    """All documents validate against RFC 4287 Appendix B (one jing run for all)."""
    jing = require_jing()
    folder = tmp_path / "jing"
    folder.mkdir(exist_ok=True)
    files = []
    for n, body in enumerate(documents.values()):
        files.append(folder / f"{n}.xml")
        files[-1].write_bytes(body)
    done = subprocess.run(
        [jing, "-c", str(SCHEMA), *map(str, files)], capture_output=True, text=True, timeout=300
    )
    names = {str(path): name for path, name in zip(files, documents, strict=True)}
    errors = "\n".join(
        line.replace(line.split(":")[0], names.get(line.split(":")[0], line.split(":")[0]))
        for line in done.stdout.splitlines()
    )
    assert done.returncode == 0 and not errors, errors or done.stderr


def assert_readable(document: bytes) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(document)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    for entry in parsed.entries:  # the schema's Schematron rules, which jing skips
        assert entry.get("author") or parsed.feed.get("author")
        assert any(link.rel == "alternate" for link in entry.links) or entry.get("content")
    return parsed


# Every feed


def test_every_feed_page_is_atom_that_feedparser_reads(client: TestClient, corpus: Corpus) -> None:
    for path in all_feed_paths(corpus):
        for url, body in walk(client, path):
            parsed = assert_readable(body)
            assert same_url(links(body)["self"], PUBLIC + url)
            ids = [entry.id for entry in parsed.entries]
            assert len(ids) == len(set(ids)), url
            assert len(parsed.entries) <= PAGE_SIZE + 1  # an item's first page has its overview


def test_every_feed_page_validates_against_rfc_4287(
    client: TestClient, corpus: Corpus, tmp_path: Path
) -> None:
    documents = {url: body for path in all_feed_paths(corpus) for url, body in walk(client, path)}
    assert len(documents) > 20
    assert_valid_atom(documents, tmp_path)


def test_the_schema_check_catches_an_invalid_feed(tmp_path: Path) -> None:
    bad = b'<feed xmlns="http://www.w3.org/2005/Atom"><title>no id</title></feed>'
    with pytest.raises(AssertionError, match="id"):
        assert_valid_atom({"bad": bad}, tmp_path)


def test_an_entry_per_change_with_the_diff_and_absolute_links(
    client: TestClient, corpus: Corpus, engine: Engine
) -> None:
    body = client.get("/feeds/edits.atom", params={"limit": 200}).content
    parsed = assert_readable(body)
    expected = feed_changes(engine)
    # 12 edits; the style edit (accents repaired), the removal and restoration left out.
    assert len(expected) == 12
    assert len(feed_changes(engine, "all")) == 13
    assert entry_change_ids(body) == [c.id for c in expected]
    assert "next" not in links(body)
    assert links(body)["self"] == f"{PUBLIC}/feeds/edits.atom?limit=200"
    assert links(body)["alternate"] == f"{PUBLIC}/"
    assert parsed.feed.id == f"tag:{AUTHORITY},2026:feed/edits"

    by_id = {c.id: c for c in expected}
    for entry in parsed.entries:
        change = by_id[int(CHANGE_ID.fullmatch(entry.id).group(1))]  # type: ignore[union-attr]
        assert entry.id.startswith(f"tag:{AUTHORITY},{change.recorded_at:%Y-%m-%d}:")
        assert datetime.fromisoformat(entry.updated) == change.recorded_at
        rels = {link.rel: link.href for link in entry.links}
        assert rels["alternate"] == f"{PUBLIC}/items/{change.item_id}"
        assert rels["related"].startswith(corpus.site.url("/news/"))
        assert entry.author == corpus.host  # the source's name: its host
        [content] = entry.content
        assert content.type == "text/html"
        assert "<del style=" in content.value or "<ins style=" in content.value
        assert " before</strong>" in content.value and " after</strong>" in content.value

    mexico = [e for e in parsed.entries if e.link == f"{PUBLIC}/items/{corpus.items['mexico']}"]
    assert len(mexico) == 2
    terms = {tag.term for tag in mexico[0].tags}
    assert {MEXICO_TAG, "Mexico", ODD_TAG} <= terms
    assert mexico[0].tags[0].scheme == f"{PUBLIC}/feeds/tags/"
    assert ODD_TAG not in {tag.term for tag in mexico[1].tags}  # the older version had not


def test_ids_are_stable_and_pages_walk_every_change_once(
    client: TestClient, engine: Engine
) -> None:
    pages = walk(client, "/feeds/edits.atom")
    assert len(pages) == 3  # 12 edits, 4 a page
    walked = [cid for _, body in pages for cid in entry_change_ids(body)]
    assert walked == [c.id for c in feed_changes(engine)]
    assert [
        cid for _, body in walk(client, "/feeds/edits.atom") for cid in entry_change_ids(body)
    ] == walked
    for url, body in pages[1:]:
        assert "?before=" in url
        assert links(body)["first"] == f"{PUBLIC}/feeds/edits.atom"
    assert "next" not in links(pages[-1][1])
    # An older page is fixed: requested again it is the same document.
    assert client.get(pages[2][0]).content == pages[2][1]


def test_page_size_is_bounded(engine: Engine) -> None:
    with TestClient(create_app(engine, settings(page_size=10_000))) as client:
        body = client.get("/feeds/edits.atom").content
        assert len(entry_change_ids(body)) == 12
        assert links(body)["self"] == f"{PUBLIC}/feeds/edits.atom"
        capped = client.get("/feeds/edits.atom", params={"limit": 5000}).content
        assert links(capped)["self"] == f"{PUBLIC}/feeds/edits.atom"  # 5000 is the cap, 200
        assert client.get("/feeds/edits.atom", params={"limit": 0}).status_code == 422
        one = client.get("/feeds/edits.atom", params={"limit": 1}).content
        assert len(entry_change_ids(one)) == 1
        assert links(one)["next"].endswith(f"?limit=1&before={entry_change_ids(one)[0]}")


# Filters


def test_kind_and_field_filters(client: TestClient, engine: Engine) -> None:
    def ids(query: str) -> list[int]:
        return [
            cid
            for _, body in walk(client, f"/feeds/edits.atom?{query}")
            for cid in entry_change_ids(body)
        ]

    for kind in ("substantive", "rewording", "style", "all", "editorial"):
        assert ids(f"kind={kind}") == [c.id for c in feed_changes(engine, kind)], kind
    assert ids("") == ids("kind=editorial")  # the default
    [style] = ids("kind=style")
    assert ids("kind=minor") == [style]  # the old name, kept as an alias
    assert style not in ids("") and style in ids("kind=all")
    assert len(ids("kind=all")) == len(ids("")) + 1
    # The default is the substantive and rewording edits (removals: kind=listing).
    assert len(ids("kind=substantive")) + len(ids("kind=rewording")) == len(ids(""))
    headline = ids("field=headline")
    assert headline == [c.id for c in feed_changes(engine) if "headline" in c.fields]
    assert len(headline) == 10
    assert len(ids("field=tags")) == 1 and len(ids("field=summary")) == 1
    assert ids("field=tags&kind=minor") == []
    listing = ids("kind=listing")
    assert listing == [c.id for c in feed_changes(engine, "all", feed_query.LISTING_KINDS)]
    assert len(listing) == 2  # the YouTube item's removal and restoration
    listed = feedparser.parse(client.get("/feeds/edits.atom?kind=listing").content).feed
    assert listed.title == "redline: edits (removals and restorations)"
    body = client.get("/feeds/edits.atom?kind=minor&field=headline").content
    assert feedparser.parse(body).feed.title == "redline: edits (minor, headline changes)"
    assert "kind=minor&field=headline" in feedparser.parse(body).feed.id
    assert client.get("/feeds/edits.atom?kind=other").status_code == 422
    assert client.get("/feeds/edits.atom?field=colour").status_code == 422


def test_source_feed(client: TestClient, corpus: Corpus, engine: Engine) -> None:
    index_source = corpus.sources[-1]
    pages = walk(client, f"/feeds/sources/{index_source}.atom")
    walked = [cid for _, body in pages for cid in entry_change_ids(body)]
    assert walked == [c.id for c in feed_changes(engine, source_id=index_source)]
    kinds = [c.kind for c in feed_changes(engine, source_id=index_source)]
    assert kinds == ["edited", "edited", "edited"]  # no removal or restoration
    parsed = feedparser.parse(pages[0][1])
    assert links(pages[0][1])["related"] == corpus.index_url
    assert parsed.feed.title == f"redline: edits on {corpus.host}"


def test_source_listing_feed_carries_removals_and_restorations(
    client: TestClient, corpus: Corpus, engine: Engine
) -> None:
    index_source = corpus.sources[-1]
    path = f"/feeds/sources/{index_source}/listing.atom"
    body = client.get(path).content
    parsed = assert_readable(body)
    expected = feed_changes(engine, "all", feed_query.LISTING_KINDS, source_id=index_source)
    assert [c.kind for c in expected] == ["restored", "removed"]
    assert entry_change_ids(body) == [c.id for c in expected]
    youtube = "YouTube announces that YouTubers who make"
    restored, removed = parsed.entries
    assert restored.title.startswith(f"Restored to {corpus.host}: {youtube}")
    assert removed.title.startswith(f"Removed from {corpus.host}: {youtube}")
    assert f"is no longer listed on {corpus.host}" in removed.content[0].value
    assert parsed.feed.title == f"redline: comings and goings on {corpus.host}"
    assert parsed.feed.id == f"tag:{AUTHORITY},2026:feed/edits/sources/{index_source}/listing"
    assert links(body)["self"] == f"{PUBLIC}{path}"
    # ?kind=listing on the source's edits feed gives the same entries
    same = client.get(f"/feeds/sources/{index_source}.atom?kind=listing").content
    assert entry_change_ids(same) == entry_change_ids(body)
    # a source whose items never left it has an empty listing feed; no source is a 404
    assert (
        entry_change_ids(client.get(f"/feeds/sources/{corpus.sources[0]}/listing.atom").content)
        == []
    )
    missing = client.get("/feeds/sources/999/listing.atom")
    assert missing.status_code == 404 and missing.json() == {"detail": "no source 999"}


# The item feed


def test_item_feed_opens_with_the_first_to_current_diff(
    client: TestClient, corpus: Corpus, engine: Engine
) -> None:
    item = corpus.items["ivorian"]
    pages = walk(client, f"/feeds/items/{item}.atom?kind=all")
    first = feedparser.parse(pages[0][1])
    overview = first.entries[0]
    assert overview.id == f"tag:{AUTHORITY},2026-01-01:item/{item}/first-to-current"
    assert overview.title.startswith("Version 1 → 6: ")
    assert "<del style=" in overview.content[0].value and "<ins style=" in overview.content[0].value
    assert "Headline before</strong> (version 1)" in overview.content[0].value
    assert {link.rel: link.href for link in overview.links}["alternate"] == f"{PUBLIC}/items/{item}"
    assert links(pages[0][1])["alternate"] == f"{PUBLIC}/items/{item}"
    walked = [cid for _, body in pages for cid in entry_change_ids(body)]
    assert walked == [c.id for c in feed_changes(engine, "all", item_id=item)]
    assert len(walked) == 5 and len(pages) == 2
    # Only the newest page has it, so no id appears twice across pages.
    assert all("first-to-current" not in e.id for e in feedparser.parse(pages[1][1]).entries)
    again = feedparser.parse(client.get(f"/feeds/items/{item}.atom?kind=all").content).entries[0]
    assert (again.id, again.content[0].value) == (overview.id, overview.content[0].value)


def test_item_feed_overview_follows_the_field_filter(client: TestClient, corpus: Corpus) -> None:
    item = corpus.items["mexico"]
    tags_only = feedparser.parse(client.get(f"/feeds/items/{item}.atom?field=tags").content)
    overview = tags_only.entries[0]
    assert overview.id.endswith(f"item/{item}/first-to-current?field=tags")
    assert ODD_TAG.replace("&", "&amp;") in overview.content[0].value
    assert "Headline" not in overview.content[0].value
    assert len(tags_only.entries) == 2  # the overview and the retagging


def test_an_item_without_edits_has_an_empty_valid_feed(client: TestClient, engine: Engine) -> None:
    with transaction(engine) as session:
        edited = {c.item_id for c in session.exec(select(Change)).all() if c.kind != "created"}
        plain = next(
            c.item_id for c in session.exec(select(Change)).all() if c.item_id not in edited
        )
    body = client.get(f"/feeds/items/{plain}.atom").content
    parsed = assert_readable(body)
    assert parsed.entries == []


# Tags


def test_tag_feeds(client: TestClient, corpus: Corpus, engine: Engine) -> None:
    mexico = corpus.items["mexico"]
    both = [c.id for c in feed_changes(engine, item_id=mexico)]
    assert len(both) == 2
    body = client.get(f"/feeds/tags/{MEXICO_TAG}.atom").content
    assert entry_change_ids(body) == both
    assert feedparser.parse(body).feed.title == f"redline: edits tagged {MEXICO_TAG}"
    # Only the version the retagging led to has the new tag.
    odd = client.get(f"/feeds/tags/{quote(ODD_TAG, safe='')}.atom")
    assert odd.status_code == 200
    assert entry_change_ids(odd.content) == both[:1]
    assert links(odd.content)["self"] == f"{PUBLIC}/feeds/tags/Q%26A%20%2F%20Test.atom"
    assert entry_change_ids(client.get(local(links(odd.content)["self"])).content) == both[:1]
    assert entry_change_ids(client.get("/feeds/tags/venezuela.atom").content) == []  # exact
    nothing = client.get("/feeds/tags/no-such-tag.atom")
    assert nothing.status_code == 200 and assert_readable(nothing.content).entries == []
    filtered = client.get(f"/feeds/tags/{MEXICO_TAG}.atom?field=tags").content
    assert entry_change_ids(filtered) == both[:1]


# Not found


def test_unknown_source_or_item_is_404(client: TestClient) -> None:
    for path, message in (
        ("/feeds/sources/999.atom", "no source 999"),
        ("/feeds/items/999.atom", "no item 999"),
    ):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": message}
    assert client.get("/feeds/items/abc.atom").status_code == 404


def test_feeds_are_in_the_openapi_schema_once(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/feeds/edits.atom",
        "/feeds/sources/{source_id}.atom",
        "/feeds/items/{item_id}.atom",
        "/feeds/tags/{tag}.atom",
    ):
        assert set(paths[path]) == {"get"}, path  # HEAD is served, not listed
        names = {p["name"] for p in paths[path]["get"]["parameters"]}
        assert {"kind", "field", "before", "limit"} <= names
    listing = paths["/feeds/sources/{source_id}/listing.atom"]
    assert {p["name"] for p in listing["get"]["parameters"]} == {"source_id", "before", "limit"}
    [field_values] = [
        p["schema"]["anyOf"][0]["enum"]
        for p in paths["/feeds/edits.atom"]["get"]["parameters"]
        if p["name"] == "field"
    ]
    assert tuple(field_values) == feed_query.FIELDS  # ?field= keeps in step with the content fields


# Caching


def test_conditional_requests(client: TestClient, corpus: Corpus, engine: Engine) -> None:
    path = "/feeds/edits.atom"
    first = client.get(path)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    page = feed_changes(engine)[: feed_names.FeedConfig().page_size]
    written = max(change.stored_at for change in page if change.stored_at)
    # When the page's changes were written, not when their checks were (START: as an
    # import of old snapshots dates them).
    assert etag.startswith('W/"') and modified == http_date(written)
    assert modified.endswith(" GMT") and written > START + timedelta(days=1)

    def status(**headers: str) -> int:
        return client.get(path, headers=headers).status_code

    not_modified_answer = client.get(path, headers={"If-None-Match": etag})
    assert not_modified_answer.status_code == 304 and not_modified_answer.content == b""
    assert not_modified_answer.headers["etag"] == etag
    assert status(**{"If-None-Match": etag.removeprefix("W/")}) == 304  # weak comparison
    assert status(**{"If-None-Match": f'"other", {etag}'}) == 304
    assert status(**{"If-None-Match": "*"}) == 304
    assert status(**{"If-None-Match": '"other"'}) == 200
    assert status(**{"If-Modified-Since": modified}) == 304
    assert status(**{"If-Modified-Since": http_date(written + timedelta(days=30))}) == 304
    # A reader that last looked after every check's time but before these edits were
    # stored (the edits of an import of old snapshots) is told they are new.
    assert status(**{"If-Modified-Since": http_date(START + timedelta(days=1))}) == 200
    assert status(**{"If-Modified-Since": http_date(START)}) == 200
    assert status(**{"If-Modified-Since": "yesterday"}) == 200
    # If-None-Match decides when both are sent.
    assert status(**{"If-None-Match": '"other"', "If-Modified-Since": modified}) == 200
    head = client.head(path, headers={"If-None-Match": etag})
    assert head.status_code == 304
    # The filters and the page are part of the ETag.
    assert client.get(path + "?kind=minor").headers["etag"] != etag
    older_url = local(links(first.content)["next"])
    older = client.get(older_url)
    assert older.headers["etag"] != etag
    assert "max-age=86400" in older.headers["cache-control"]

    # A new edit: the newest page changes, an older one does not.
    edited = corpus.index_page.replace("firmly rejects", "flatly rejects", 1)
    corpus.site.publish(urlsplit(corpus.index_url).path, edited)
    try:
        _check_all(engine, START + timedelta(days=2))
    finally:
        corpus.site.publish(urlsplit(corpus.index_url).path, corpus.index_page)
    assert status(**{"If-None-Match": etag}) == 200
    fresh = client.get(path)
    assert fresh.headers["etag"] != etag
    newest = feed_changes(engine)[0]
    assert newest.recorded_at == START + timedelta(days=2) and newest.stored_at is not None
    assert fresh.headers["last-modified"] == http_date(newest.stored_at)
    # If-Modified-Since counts whole seconds: an edit written in the second the last one
    # was is not newer by that date (the ETag tells it apart, above).
    newer = fresh.headers["last-modified"] != modified
    assert status(**{"If-Modified-Since": modified}) == (200 if newer else 304)
    assert (
        client.get(older_url, headers={"If-None-Match": older.headers["etag"]}).status_code == 304
    )


def test_etag_matching_rules() -> None:
    state = atom.FeedState('W/"abc"', datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC))
    assert etag_matches('W/"abc"', state.etag) and etag_matches('"abc"', state.etag)
    assert etag_matches('"a,b", W/"abc"', state.etag)
    assert not etag_matches('"abcd", "ab"', state.etag)
    assert not etag_matches("", state.etag)
    assert not_modified({"if-modified-since": "Thu, 01 Jan 2026 12:00:00 GMT"}, state)
    assert not not_modified({"if-modified-since": "Thu, 01 Jan 2026 11:59:59 GMT"}, state)
    empty = atom.FeedState('W/"e"', None)
    assert not not_modified({"if-modified-since": "Thu, 01 Jan 2026 12:00:00 GMT"}, empty)


# Static files


def static_files(out: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(out)): path.read_bytes()
        for path in sorted(out.rglob("*.atom"))
        if not path.name.startswith(".")
    }


def test_feed_out_dir_writes_every_feed_as_linked_static_files(
    cli, corpus: Corpus, client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "site" / "feeds"
    done = cli(
        "feed",
        "--out",
        str(out),
        "--public-url",
        PUBLIC + "/",
        "--authority",
        AUTHORITY,
        "--limit",
        str(PAGE_SIZE),
    )
    assert "wrote" in done.stderr
    files = static_files(out)
    expected = {"edits.atom"}
    expected |= {f"sources/{s}.atom" for s in corpus.sources}
    expected |= {f"sources/{s}/listing.atom" for s in corpus.sources}
    expected |= {f"items/{i}.atom" for i in corpus.items.values()}
    expected |= {f"tags/{MEXICO_TAG}.atom", "tags/Q%26A%20%2F%20Test.atom", "tags/Mexico.atom"}
    assert expected <= set(files)
    assert {name for name in files if "/before-" in name} >= {
        # a page's last entry names the next page; the last page has none
        f"edits/before-{c.id}.atom"
        for c in feed_changes(engine)[PAGE_SIZE - 1 : -1 : PAGE_SIZE]
    }

    for name, body in files.items():
        assert_readable(body)
        page_links = links(body)
        assert page_links["self"] == f"{PUBLIC}/feeds/{quote(name)}", name
        for rel in ("next", "first"):
            if rel in page_links:  # every link between pages names a file that exists
                target = unquote(page_links[rel].removeprefix(f"{PUBLIC}/feeds/"))
                assert target in files, (name, rel, page_links[rel])

    # Walking the static edits feed gives what the server gives, with the same ids.
    walked, name = [], "edits.atom"
    while name:
        walked += entry_change_ids(files[name])
        nxt = links(files[name]).get("next")
        name = unquote(nxt.removeprefix(f"{PUBLIC}/feeds/")) if nxt else ""
    served = [
        cid for _, body in walk(client, "/feeds/edits.atom") for cid in entry_change_ids(body)
    ]
    assert walked == served == [c.id for c in feed_changes(engine)]
    server_ids = [e.id for e in feedparser.parse(client.get("/feeds/edits.atom").content).entries]
    assert [e.id for e in feedparser.parse(files["edits.atom"]).entries] == server_ids
    odd = feedparser.parse(files["tags/Q%26A%20%2F%20Test.atom"])
    assert [e.id for e in odd.entries] == [
        e.id
        for e in feedparser.parse(client.get("/feeds/tags/Q%26A%20%2F%20Test.atom").content).entries
    ]


def test_static_files_validate_against_rfc_4287(cli, tmp_path: Path) -> None:
    out = tmp_path / "feeds"
    cli("feed", "--out", str(out), "--public-url", PUBLIC, "--limit", "3")
    files = static_files(out)
    assert len(files) > 20
    assert_valid_atom(files, tmp_path)


def test_feed_to_stdout_or_a_file_is_the_newest_page_of_edits(cli, tmp_path: Path) -> None:
    stdout = cli("feed", "--public-url", PUBLIC, "--limit", "2").stdout.encode()
    assert len(entry_change_ids(stdout)) == 0  # the authority differs: redline.invalid
    parsed = assert_readable(stdout)
    assert len(parsed.entries) == 2 and links(stdout)["next"].startswith(PUBLIC + "/feeds/")
    out = tmp_path / "edits.atom"
    cli("feed", "--out", str(out), "--authority", AUTHORITY)
    assert len(entry_change_ids(out.read_bytes())) == 12  # the style edit left out


def test_feed_kind_picks_the_class_of_edits_as_the_servers_kind_does(
    cli, client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    assert FEED_KINDS == feed_query.KINDS  # the CLI offers what the server takes
    served = entry_change_ids(client.get("/feeds/edits.atom?kind=style").content)
    style = cli("feed", "--kind", "style", "--authority", AUTHORITY).stdout.encode()
    assert entry_change_ids(style) == served == [c.id for c in feed_changes(engine, "style")]
    assert len(served) == 1
    out = tmp_path / "all"
    cli("feed", "--out", str(out), "--kind", "all", "--authority", AUTHORITY, "--limit", "200")
    written = entry_change_ids((out / "edits.atom").read_bytes())
    assert written == [c.id for c in feed_changes(engine, "all")] and served[0] in written
    for listing in out.glob("sources/*/listing.atom"):  # listing feeds as always
        served_listing = client.get(f"/feeds/{listing.relative_to(out)}").content
        assert entry_change_ids(listing.read_bytes()) == entry_change_ids(served_listing)
    wrong = cli("feed", "--kind", "typos", check=False)
    assert wrong.code == 2 and "invalid choice: 'typos'" in wrong.stderr
    assert wrong.stderr.count("\n") == 1 and "(see `redline feed --help`)" in wrong.stderr


# What readers see: titles, and entries read in a text-mode reader


def test_titles_say_what_changed_and_successive_edits_differ(
    client: TestClient, corpus: Corpus, engine: Engine
) -> None:
    parsed = feedparser.parse(client.get("/feeds/edits.atom", params={"limit": 200}).content)
    titles = {int(CHANGE_ID.fullmatch(e.id).group(1)): e.title for e in parsed.entries}  # type: ignore[union-attr]
    changes = feed_changes(engine)
    for change in changes:
        title = titles[change.id]
        if "headline" in change.fields:
            assert re.match(r"Headline( and \w+)? changed: .+ → .+", title), title
        else:
            assert title.startswith(f"{change.fields[0].capitalize()} edited: "), title
        assert len(title) <= 160
    # Every item's edits, one after another, have titles of their own.
    for item in {c.item_id for c in changes}:
        mine = [titles[c.id] for c in changes if c.item_id == item]
        assert all(a != b for a, b in zip(mine, mine[1:], strict=False)), mine
    borneo = [titles[c.id] for c in changes if c.source_id == corpus.sources[1]]
    assert borneo[-1] == (
        "Headline changed: …Indonesian Borneo, with at least… "
        "→ …Indonesian Borneo, leaving at least…"
    )
    assert (
        borneo[0]
        == "Headline and category changed: …at least 8 people dead. → …at least eight people dead."
    )


def test_entries_read_in_a_text_reader_tell_deletions_from_insertions(
    client: TestClient, engine: Engine
) -> None:
    parsed = feedparser.parse(client.get("/feeds/edits.atom", params={"limit": 200}).content)
    by_id = {c.id: c for c in feed_changes(engine)}
    with transaction(engine) as session:
        bases = queries.diff_bases(session, by_id.values())
    checked = 0
    for entry in parsed.entries:
        change = by_id[int(CHANGE_ID.fullmatch(entry.id).group(1))]  # type: ignore[union-attr]
        seen = text_reader(entry.content[0].value)
        assert "<" not in seen and "style" not in seen  # the markup really is gone
        whole = history.whole_diff(change, bases.get(change.from_version_id or 0))
        for name, ops in (whole or {}).items():
            for op, text in ops:
                words = " ".join(text.split())
                if op == -1 and words:
                    assert f"[−{words}−]" in seen, (words, seen)
                    checked += 1
                elif op == 1 and words:
                    assert f"[+{words}+]" in seen, (words, seen)
                    checked += 1
            assert f"{name.capitalize()} before (version {change.from_n}):" in seen
            assert f"{name.capitalize()} after (version {change.to_n}):" in seen
    assert checked >= 20
    # Without the markers the same reader cannot tell which side a word is on: the test
    # above would fail on the plain <del>/<ins> rendering.
    plain = text_reader("<p>Critics warn this <del>situation</del><ins>case</ins> is.</p>")
    assert plain == "Critics warn this situationcase is."
