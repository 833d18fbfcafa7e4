"""Values that were accepted and then broke things (issue 15): check intervals, cron lines,
source URLs and feed options are refused where they come in, by the CLI (exit 2, one
`redline:` line, nothing stored) and by the JSON API (400 or 422 with a detail, nothing
stored), and a URL tracked already in another spelling is reported as tracked."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage import Source, transaction

from .test_http_api import AUTH, client_for

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

URL = "https://example.org/news/a.md?id=1"
INTERVAL_RULE = "from 1m to 366d"
# Out of range (overflowing a date, or past a year), under a minute (a fraction of a
# second, a bare number of seconds, zero), empty, or not a duration at all.
BAD_INTERVALS = ["99999999d", "367d", "0.5s", "5", "59s", "0m", "", "soon"]
NEVER_FIRING_CRON = ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4 *"]
UNFETCHABLE_URLS = [
    ("http://a b.example/", "not a host name: 'a b.example'"),
    ("http://a\x01b.example/", "control character '\\x01'"),
    ("http://example.org/a\nb", "control character '\\n'"),
    ("http://example.org/\x1b[31mred", "control character '\\x1b'"),
    ("http://example.org/\x9b31mred", "control character '\\x9b'"),
    ("http://example.org/\u202eevil", "control character '\\u202e'"),
    ("http://example.org:0/", "port of a URL is from 1 to 65535, not 0"),
    ("http://example.org:99999/", "port of a URL is from 1 to 65535, not 99999"),
    ("http://a..b/", "empty label"),
    ("http://" + "a" * 300 + ".example/", "a label of 300 characters (at most 63"),
    ("http://" + "a" * 64 + ".example/", "a label of 64 characters"),
    ("http://" + ".".join(["a" * 60] * 5) + "/", "host of a URL is at most 253 characters"),
    ("http://example.org/" + "a" * 100_000, "URL too long: 100019 characters (at most 2048)"),
]
URL_IDS = [
    "space in host",
    "control in host",
    "newline",
    "ESC",
    "C1 CSI",
    "bidi override",
    "port 0",
    "port 99999",
    "empty label",
    "300-character label",
    "64-character label",
    "host over 253",
    "100 KB path",
]
# The same URL as URL, spelled otherwise: canonical_url gives all of them one form.
SAME_URL = [
    URL + "#x",
    "HTTPS://EXAMPLE.ORG/news/a.md?id=1&utm_source=y",
    "https://example.org:443/news/a.md?id=1#top",
]


def refused(result, *messages: str) -> None:
    """One `redline:` line naming the problem, exit status 2, no traceback."""
    assert result.code == 2, (result.code, result.stderr)
    assert result.stderr.startswith("redline: ") and result.stderr.count("\n") == 1, result.stderr
    assert all(message in result.stderr for message in messages), result.stderr
    assert "Traceback" not in result.stderr


def stored_urls(engine: Engine) -> list[str]:
    with transaction(engine) as session:
        return [source.url for source in session.exec(select(Source).order_by(Source.id))]


# -- the CLI ---------------------------------------------------------------------------


@pytest.mark.parametrize("every", BAD_INTERVALS)
def test_add_refuses_a_check_interval_out_of_range(cli, engine: Engine, every: str) -> None:
    result = cli("add", URL, "--every", every, check=False)
    refused(result, f"--every: not a check interval: {every!r}", INTERVAL_RULE)
    assert stored_urls(engine) == []


@pytest.mark.one_database  # what is refused does not depend on the database
@pytest.mark.parametrize("verb", ["check", "run"])
@pytest.mark.parametrize("every", ["99999999d", "0.5s", ""])
def test_check_and_run_refuse_a_default_interval_out_of_range(cli, verb: str, every: str) -> None:
    refused(cli(verb, "--every", every, check=False), INTERVAL_RULE)


@pytest.mark.one_database  # what is refused does not depend on the database
@pytest.mark.parametrize(
    "toml",
    [
        'every = "99999999d"\n',
        'every = "0.5s"\n',
        '[[source]]\nurl = "https://example.org/"\nevery = "99999999d"\n',
        '[[source]]\nurl = "https://example.org/"\nevery = 5\n',
        '[daemon]\naging = { "1d" = "99999999d" }\n',
    ],
    ids=[
        "every 99999999d",
        "every 0.5s",
        "source every 99999999d",
        "source every 5",
        "aging every 99999999d",
    ],
)
def test_a_configured_interval_out_of_range_is_refused(
    cli, engine: Engine, tmp_path: Path, toml: str
) -> None:
    config = tmp_path / "redline.toml"
    config.write_text(toml)
    refused(cli("--config", str(config), "run", check=False), f"{config}: ", INTERVAL_RULE)
    assert stored_urls(engine) == []


@pytest.mark.parametrize("line", NEVER_FIRING_CRON)
def test_add_refuses_a_cron_line_that_never_fires(cli, engine: Engine, line: str) -> None:
    refused(cli("add", URL, "--cron", line, check=False), "never fires in the next 5 years")
    assert stored_urls(engine) == []


@pytest.mark.parametrize(("url", "message"), UNFETCHABLE_URLS, ids=URL_IDS)
def test_add_refuses_a_url_that_can_never_be_fetched(
    cli, engine: Engine, url: str, message: str
) -> None:
    result = cli("add", url, check=False)
    refused(result, message)
    assert "\x1b" not in result.stderr and "\x9b" not in result.stderr  # shown escaped
    assert len(result.stderr) < 400
    assert stored_urls(engine) == []


@pytest.mark.parametrize("spelling", SAME_URL)
def test_adding_a_tracked_url_in_another_spelling_says_it_is_tracked(
    cli, engine: Engine, spelling: str
) -> None:
    cli("add", URL)
    again = cli("add", spelling)
    assert again.stdout == f"already tracked: source 1 {URL} (kind auto)\n"
    assert stored_urls(engine) == [URL]  # the stored URL is left as it was


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--limit", "0"), "--limit is the entries per page, from 1 to 200, not 0"),
        (("--limit", "-5"), "from 1 to 200, not -5"),
        (("--limit", "100000"), "from 1 to 200, not 100000"),
        (("--public-url", "notaurl"), "public URL (--public-url, "),
        (("--public-url", "https://news.example.org/?page=2"), "cannot have a query"),
        (("--public-url", "http://news example.org"), "not a host name"),
        (("--authority", "my authority/x"), "authority (--authority, "),
        (("--authority", "news.example.org/feeds"), "not 'news.example.org/feeds'"),
    ],
)
def test_feed_refuses_options_that_make_broken_feeds(cli, options: tuple[str, ...], message: str):
    result = cli("feed", *options, check=False)
    refused(result, message)
    assert result.stdout == ""


@pytest.mark.one_database  # what is refused does not depend on the database
@pytest.mark.parametrize(
    ("toml", "args", "message"),
    [
        ('[feed]\nauthority = "my authority/x"\n', ("feed",), "[feed] authority"),
        ('[serve]\npublic_url = "notaurl"\n', ("feed",), "[serve] public_url"),
        ('[serve]\npublic_url = "notaurl"\n', ("serve", "--port", "1"), "[serve] public_url"),
        ("", ("serve", "--port", "1", "--public-url", "notaurl"), "--public-url"),
    ],
    ids=["feed authority", "feed public_url", "serve public_url", "serve --public-url"],
)
def test_configured_feed_settings_that_make_broken_feeds_are_refused(
    cli, tmp_path: Path, toml: str, args: tuple[str, ...], message: str
) -> None:
    config = tmp_path / "redline.toml"
    config.write_text(toml)
    refused(cli("--config", str(config), *args, check=False), message)


# -- the JSON API ------------------------------------------------------------------------


@pytest.mark.parametrize("every", [*BAD_INTERVALS, 0.0001, 0.5, 5, 0, -60, 1e13, 99999999 * 86400])
def test_the_api_refuses_a_check_interval_out_of_range(engine: Engine, every: object) -> None:
    with client_for(engine) as client:
        response = client.post("/api/sources", json={"url": URL, "every": every}, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("every: not a check interval: ")
    assert INTERVAL_RULE in response.json()["detail"]
    assert stored_urls(engine) == []


@pytest.mark.parametrize("every", ["99999999d", 1e13, 0.0001, "5", ""])
def test_the_api_refuses_to_change_an_interval_out_of_range(engine: Engine, every: object) -> None:
    with client_for(engine) as client:
        created = client.post("/api/sources", json={"url": URL, "every": "1h"}, headers=AUTH)
        path = f"/api/sources/{created.json()['id']}"
        response = client.patch(path, json={"every": every, "name": "changed"}, headers=AUTH)
        assert response.status_code == 400, response.text
        assert INTERVAL_RULE in response.json()["detail"]
        after = client.get(path).json()
    assert (after["interval_seconds"], after["name"]) == (3600, None)  # nothing changed


@pytest.mark.parametrize("line", NEVER_FIRING_CRON)
def test_the_api_refuses_a_cron_line_that_never_fires(engine: Engine, line: str) -> None:
    with client_for(engine) as client:
        response = client.post("/api/sources", json={"url": URL, "cron": line}, headers=AUTH)
    assert response.status_code == 400, response.text
    assert "never fires in the next 5 years" in response.json()["detail"]
    assert stored_urls(engine) == []


@pytest.mark.parametrize(("url", "message"), UNFETCHABLE_URLS[:-1], ids=URL_IDS[:-1])
def test_the_api_refuses_a_url_that_can_never_be_fetched(
    engine: Engine, url: str, message: str
) -> None:
    """(A URL past 2,048 characters was refused by the body's schema already: 422.)"""
    with client_for(engine) as client:
        response = client.post("/api/sources", json={"url": url}, headers=AUTH)
    assert response.status_code == 400, response.text
    assert message in response.json()["detail"]
    assert stored_urls(engine) == []


@pytest.mark.parametrize("spelling", SAME_URL)
def test_the_api_answers_a_tracked_url_in_another_spelling_with_its_source(
    engine: Engine, spelling: str
) -> None:
    with client_for(engine) as client:
        first = client.post("/api/sources", json={"url": URL}, headers=AUTH)
        again = client.post("/api/sources", json={"url": spelling}, headers=AUTH)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["url"] == URL
    assert stored_urls(engine) == [URL]


def test_add_refuses_a_match_window_out_of_range(cli) -> None:
    done = cli("add", "https://news.example/feed.xml", "--match-window", "200", check=False)
    assert done.code == 2 and "--match-window is hours from 0 to 168" in done.stderr
    assert cli("sources", "--json").json() == []


def test_a_control_character_stored_before_urls_were_checked_is_shown_escaped(cli, engine) -> None:
    from sqlalchemy import text

    cli("add", "https://news.example/feed.xml")
    with engine.begin() as connection:  # as an older redline could have stored it
        connection.execute(
            text("UPDATE source SET url = :url"), {"url": "https://news.example/\x1b[31mx"}
        )
    shown = cli("sources").stdout + cli("sources", "--json").stdout
    assert "\x1b" not in shown and "\\x1b[31mx" in shown
