"""The Offstream Markdown extractor, checked against real pages whose expected results ship with
them (tests/fixtures/offstream/manifest.json)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tracker.errors import ExtractError
from tracker.extract.base import Observation
from tracker.extract.offstream import is_offstream, parse_offstream

FIXTURES = Path(__file__).parent / "fixtures" / "offstream"
SITE = "https://thecontext.net"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
SNAPSHOTS = MANIFEST["snapshots"]
ITEM_SNAPSHOTS = [s for s in SNAPSHOTS if not s["url"].endswith("/index.md")]
INDEX_SNAPSHOTS = [s for s in SNAPSHOTS if s["url"].endswith("/index.md")]
SEED_URLS = json.loads((FIXTURES / "seeds" / "seeds.json").read_text(encoding="utf-8"))

PALMYRA_OLD = "pages/678e1a54ba/news/2017/03/2/" + (
    "syrian-civil-war-palmyra-offensive-2017-the-syrian-army-and-its-allies-recapture-the-ancient"
    "-city-of-palmyra-from-the-islamic-state-of-i.md"
)
IVORIAN = "pages/960f3e7f2c/news/2018/01/10/" + (
    "ivorian-soldiers-in-bouaka-c-attack-the-coordination-center-for-operational-decision-making"
    "-fr-de-coordination-des-da-c-cisions-opa-c-rationnel.md"
)
INDEX_OLD = "pages/23d7fa765e/news/2018/02/2/index.md"
INDEX_NEW = "pages/48c0b44439/news/2018/02/2/index.md"


def _snapshot(file: str) -> dict:
    return next(s for s in SNAPSHOTS if s["file"] == file)


def _parse_snapshot(snapshot: dict) -> list[Observation]:
    text = (FIXTURES / snapshot["file"]).read_text(encoding="utf-8")
    return parse_offstream(text, SITE + snapshot["url"])


def _parse_file(file: str) -> list[Observation]:
    return _parse_snapshot(_snapshot(file))


def _parse_seed(name: str) -> Observation:
    text = (FIXTURES / "seeds" / name).read_text(encoding="utf-8")
    [obs] = parse_offstream(text, SITE + SEED_URLS[name])
    return obs


def _mexico(observations: list[Observation]) -> Observation:
    return next(o for o in observations if o.headline and o.headline.startswith("Mexico's"))


# --- the fixtures themselves ------------------------------------------------------------------


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda s: s["file"][6:16] + ":" + s["chain"])
def test_fixture_is_unchanged_copy(snapshot: dict) -> None:
    data = (FIXTURES / snapshot["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == snapshot["sha256"]


# --- every item page against its manifest entry ---------------------------------------------


@pytest.mark.parametrize(
    "snapshot", ITEM_SNAPSHOTS, ids=lambda s: f"{s['chain']}#{s['order']}:{s['file'][6:16]}"
)
def test_item_page_matches_manifest(snapshot: dict) -> None:
    [obs] = _parse_snapshot(snapshot)

    assert obs.url == SITE + snapshot["url"]
    assert obs.headline == snapshot["headline"].strip()
    assert obs.category == snapshot["category"]
    assert obs.tags is None
    assert obs.guid is None
    got = [
        (
            entry.headline,
            urlsplit(entry.url).path if entry.url else None,
            entry.reported_at.strftime("%Y-%m-%d %H:%M:%S") if entry.reported_at else None,
            entry.label,
        )
        for entry in obs.history
    ]
    want = [(c["title"].strip(), c["url"], c["ts"], c["label"]) for c in snapshot["changes"]]
    assert got == want
    for entry in obs.history:
        assert entry.url is not None and entry.url.startswith(SITE + "/news/")
        assert entry.reported_at is None or entry.reported_at.tzinfo == UTC


@pytest.mark.parametrize("snapshot", ITEM_SNAPSHOTS, ids=lambda s: s["file"][6:16])
def test_item_page_event_date_from_url(snapshot: dict) -> None:
    [obs] = _parse_snapshot(snapshot)
    _, _news, year, month, day, _slug = snapshot["url"].split("/")
    assert obs.event_date == date(int(year), int(month), int(day))


@pytest.mark.parametrize("snapshot", ITEM_SNAPSHOTS, ids=lambda s: s["file"][6:16])
def test_item_page_history_ends_with_itself(snapshot: dict) -> None:
    [obs] = _parse_snapshot(snapshot)
    if not obs.history:
        return
    current = obs.history[-1]
    assert current.is_current and current.reported_at is None
    assert current.url == obs.url
    assert not any(entry.is_current for entry in obs.history[:-1])


# --- seeds ------------------------------------------------------------------------------------


def test_seed_000_palmyra() -> None:
    obs = _parse_seed("000_0c411d6d2d5ef8ba.txt")

    assert obs.event_date == date(2017, 3, 2)
    assert obs.headline == (
        "The Syrian Army and its allies recapture the ancient city of Palmyra from the Islamic "
        "State of Iraq and the Levant."
    )
    assert obs.category is None  # this seed has no ##### line
    assert obs.summary is not None and obs.summary.startswith("The Syrian opposition declined")
    assert obs.sources is not None and len(obs.sources) == 5
    assert obs.sources[2] == "BBC <http://www.bbc.com/news/world-middle-east-39140880>"
    # The "Cover Image" line is the page's picture, not a source.
    assert not any(source.startswith("Cover Image") for source in obs.sources)

    first, current = obs.history
    assert first.headline.startswith("Syrian Civil War: Palmyra offensive (2017): The Syrian Army")
    assert first.label == "First version"
    assert first.reported_at == datetime(2017, 8, 27, 3, 47, 56, tzinfo=UTC)
    assert first.url == SITE + (
        "/news/2017/03/2/syrian-civil-war-palmyra-offensive-2017-the-syrian-army-and-its-allies"
        "-recapture-the-ancient-city-of-palmyra-from-the-islamic-state-of-i.md"
    )
    assert current.is_current and current.label == "Current version"
    assert current.reported_at is None
    assert current.headline == obs.headline
    assert current.url == obs.url


def test_seed_001_khanasir() -> None:
    obs = _parse_seed("001_d715acd15c94cb49.txt")

    assert obs.event_date == date(2016, 2, 25)
    assert obs.category == "Syrian Civil War"
    assert obs.headline is not None and obs.headline.startswith("The Syrian Army, backed by")
    assert obs.sources == [
        "AP via ABC News <http://abcnews.go.com/International/wireStory/"
        "syrian-army-recaptures-town-aleppo-province-group-37183639>"
    ]
    assert [e.label for e in obs.history] == ["First version", "Current version"]
    assert obs.history[0].reported_at == datetime(2017, 8, 27, 3, 45, 1, tzinfo=UTC)
    assert obs.history[0].headline.startswith("Syrian Civil War: The Syrian Army")


# --- specific pages ---------------------------------------------------------------------------


def test_old_template_page() -> None:
    [obs] = _parse_file(PALMYRA_OLD)

    assert obs.history == []
    assert obs.category is None
    assert obs.event_date == date(2017, 3, 2)
    assert obs.headline is not None and obs.headline.startswith("Syrian Civil War. Palmyra")
    assert obs.summary is not None and obs.summary.endswith("changing hands again was risible.")
    assert obs.sources == [
        "Al-Masdar News <https://www.almasdarnews.com/article/"
        "breaking-kurdish-led-sdf-handover-huge-section-territory-saa/>",
        "Al-Masdar News <https://www.almasdarnews.com/article/"
        "breaking-syrian-army-recaptures-palmyra-kremlin/>",
        "BBC <http://www.bbc.com/news/world-middle-east-39140880>",
        "Reuters <http://www.reuters.com/article/us-russia-syria-palmyra-idUSKBN16921M>",
        "Rudaw <http://www.rudaw.net/english/middleeast/syria/02032017>",
    ]
    assert obs.tags is None  # the Related items' _Context:_ tags are not this item's


def test_ivorian_page_messy_changes_list() -> None:
    [obs] = _parse_file(IVORIAN)

    assert obs.summary is None
    assert obs.category == "Ivorian soldiers"
    assert len(obs.history) == 6
    assert [e.label for e in obs.history] == ["First version"] + ["Update"] * 4 + [
        "Current version"
    ]
    times = [e.reported_at for e in obs.history[:-1]]
    assert times == sorted(times)
    assert times[-1] - times[0] == timedelta(hours=15)
    assert '("Centre de Coordination des Dcisions Oprationnelles")' in obs.history[1].headline
    assert obs.history[-1].headline == obs.headline
    assert obs.sources is not None and obs.sources[0].startswith("Reuters <https://www.reuters")


# --- the day index ----------------------------------------------------------------------------

INDEX_CATEGORIES = [
    "China-United Kingdom relations",
    "History of YouTube",
    "2018 Sibanye Gold incident",
    "Mexico-United States relations",
    "Crime in France",
    "2017 Finsbury Park attack",
    "2017 Las Vegas shooting",
    "Nunes memo",
    "Nuclear Posture Review",
]


@pytest.mark.parametrize("file", [INDEX_OLD, INDEX_NEW])
def test_day_index(file: str) -> None:
    observations = _parse_file(file)

    assert len(observations) == 9
    assert [o.category for o in observations] == INDEX_CATEGORIES
    assert observations[0].category == _snapshot(file)["category"]
    for obs in observations:
        assert obs.event_date == date(2018, 2, 2)
        assert obs.url is not None and obs.url.startswith(SITE + "/news/2018/02/2/")
        assert obs.url.endswith(".md") and not obs.url.endswith("/index.md")
        assert obs.headline and obs.headline == obs.headline.strip()
        assert obs.history == [] and obs.sources is None and obs.guid is None

    mexico = _mexico(observations)
    assert mexico.tags is not None and len(mexico.tags) == 13
    assert "Rex Tillerson" in mexico.tags
    assert "19th-century United States policy in Latin America" in mexico.tags
    assert mexico.summary is None  # the Mexico item has a Context line but no summary line
    assert all(o.tags is None for o in observations if o is not mexico)

    nunes = observations[7]
    assert nunes.headline is not None and nunes.headline.startswith("U.S. President Donald Trump")
    assert nunes.summary is not None and nunes.summary.endswith("this situation is perilous.")
    assert observations[0].summary is not None
    assert observations[0].summary.endswith("so-called \u201cinterpre...")


def test_day_index_versions_differ_only_in_tag_order() -> None:
    old, new = _parse_file(INDEX_OLD), _parse_file(INDEX_NEW)

    old_tags, new_tags = _mexico(old).tags, _mexico(new).tags
    assert old_tags is not None and new_tags is not None
    assert set(old_tags) == set(new_tags)
    assert old_tags != new_tags
    assert old_tags[:2] == ["United States Secretary of State", "Nicolas Maduro"]
    assert new_tags[:2] == ["United States Secretary of State", "Mexico-United States relations"]

    def without_tags(observations: list[Observation]) -> list[Observation]:
        return [Observation(**{**vars(o), "tags": None}) for o in observations]

    assert without_tags(old) == without_tags(new)


# --- synthetic edge cases ---------------------------------------------------------------------


def test_tolerant_changes_list() -> None:
    page = "\n".join(
        [
            "### [2018-01-9](/news/2018/01/9/index.md)",
            "",
            "# New headline ",
            "",
            "### Changes:",
            "",
            "1. [Old (first) [draft] headline ](/news/2018/01/9/old.md) "
            "_2018-01-09 10:00:00 (First version)_   ",
            "not a list entry",
            "1. [missing meta](/news/2018/01/9/x.md)",
            "7. [Bad time](/news/2018/01/9/bad.md) _2018-13-45 99:00:00 (Update)_",
            "3. [New headline ](https://elsewhere.example/news/2018/01/9/new.md) "
            "_(Current version)_",
        ]
    )
    [obs] = parse_offstream(page, "https://offstream.news/news/2018/01/9/new.md")

    assert obs.headline == "New headline"
    assert obs.event_date == date(2018, 1, 9)
    assert obs.summary is None and obs.sources is None and obs.category is None
    assert [(e.headline, e.url, e.reported_at, e.label) for e in obs.history] == [
        (
            "Old (first) [draft] headline",
            "https://offstream.news/news/2018/01/9/old.md",
            datetime(2018, 1, 9, 10, tzinfo=UTC),
            "First version",
        ),
        ("Bad time", "https://offstream.news/news/2018/01/9/bad.md", None, "Update"),
        (
            "New headline",
            "https://elsewhere.example/news/2018/01/9/new.md",
            None,
            "Current version",
        ),
    ]


def test_multi_paragraph_summary_and_crlf() -> None:
    page = "\r\n".join(
        [
            "### [2018-02-2](/news/2018/02/2/index.md)",
            "##### Category",
            "# Headline",
            "",
            " First paragraph,",
            "still first.",
            "",
            "",
            "Second paragraph.",
            "### Sources:",
            "1. [Wiki](https://en.wikipedia.org/wiki/Foo_(bar))",
        ]
    )
    [obs] = parse_offstream(page, "https://offstream.news/news/2018/02/2/headline.md")

    assert obs.category == "Category"
    assert obs.summary == "First paragraph,\nstill first.\n\nSecond paragraph."
    assert obs.sources == ["Wiki <https://en.wikipedia.org/wiki/Foo_(bar)>"]


def test_front_page_with_several_days() -> None:
    page = "\n".join(
        [
            "# The Context",
            "",
            "## [2018-03-10](/news/2018/03/10/index.md)",
            "",
            "### [Item one [sic] ](/news/2018/03/10/item-one.md)",
            "_Context: A_",
            "",
            "## [2018-03-9](/news/2018/03/9/index.md)",
            "",
            "##### Cat",
            "### [Item two](/news/2018/03/9/item-two.md)",
            "Summary two.",
            "",
            "## [Previous Day...](/news/2018/03/8/index.md)",
        ]
    )
    one, two = parse_offstream(page, "https://offstream.news/")

    assert (one.headline, one.url) == (
        "Item one [sic]",
        "https://offstream.news/news/2018/03/10/item-one.md",
    )
    assert (one.event_date, one.category, one.tags, one.summary) == (
        date(2018, 3, 10),
        None,
        ["A"],
        None,
    )
    assert (two.event_date, two.category, two.tags, two.summary) == (
        date(2018, 3, 9),
        "Cat",
        None,
        "Summary two.",
    )


@pytest.mark.parametrize(
    "text",
    [
        "hello world",
        "",
        "   \n\n",
        "<!DOCTYPE html>\n<html><head><title>x</title></head><body><h1>x</h1></body></html>",
        "<html>\n# looks like a heading\n</html>",
        "### [2018-02-2](/news/2018/02/2/index.md)\n\nno headline here",
    ],
    ids=["words", "empty", "blank", "html", "html-with-hash", "date-only"],
)
def test_garbage_raises(text: str) -> None:
    with pytest.raises(ExtractError, match="not an Offstream page"):
        parse_offstream(text, "https://offstream.news/news/x.md")


def test_is_offstream() -> None:
    for snapshot in SNAPSHOTS:
        assert is_offstream((FIXTURES / snapshot["file"]).read_text(encoding="utf-8"))
    for name in SEED_URLS:
        assert is_offstream((FIXTURES / "seeds" / name).read_text(encoding="utf-8"))
    assert not is_offstream("hello world")
    assert not is_offstream("")
    assert not is_offstream("<html><body><h1>News</h1></body></html>")
    assert not is_offstream("# A README\n\nSome text.\n")
