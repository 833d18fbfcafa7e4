"""What a newcomer trips on at the command line (issue 15): names in `redline sources`,
settings a re-add cannot change, the verbs that change a source, the links of `feed`."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import TWO_ITEM_RSS as RSS
from .conftest import Site

# What is tested here does not depend on the database (see conftest.py).
pytestmark = pytest.mark.one_database


def test_sources_text_shows_names(site: Site, cli) -> None:
    named = site.publish("/feed.xml", RSS, "application/rss+xml")
    cli("add", named, "--name", "News Example")
    cli("add", site.url("/other.xml"))
    lines = cli("sources").stdout.splitlines()
    assert lines[0] == f"   1  auto      News Example  {named}"
    assert lines[2] == f"   2  auto      {site.url('/other.xml')}"  # no name: just the URL


def test_re_adding_with_new_settings_says_how_to_change_them(site: Site, cli) -> None:
    url = site.publish("/feed.xml", RSS, "application/rss+xml")
    cli("add", url, "--every", "15m")
    again = cli("add", url, "--every", "1h", "--name", "My feed")
    assert again.stdout == f"already tracked: source 1 {url} (kind auto)\n"
    assert again.stderr == (
        "redline: source 1 is already tracked, so --name 'My feed' --every 1h was not "
        "applied; to change it: redline source edit 1 --name 'My feed' --every 1h\n"
    )
    [row] = cli("sources", "--json").json()
    assert (row["name"], row["interval_seconds"]) == (None, 900)  # nothing changed
    # Re-adding with nothing new to say stays quiet.
    assert cli("add", url, "--every", "15m").stderr == ""


def test_source_edit_disable_enable(site: Site, cli) -> None:
    url = site.publish("/feed.xml", RSS, "application/rss+xml")
    cli("add", url)
    edited = cli("source", "edit", "1", "--name", "News", "--every", "1h")
    assert edited.stdout == f"source 1 {url} (kind auto): enabled, every 1h, name 'News'\n"
    by_cron = cli("source", "edit", "1", "--cron", "*/30  6-22 * * *").stdout
    assert "cron '*/30 6-22 * * *'" in by_cron  # a cron line replaces the interval
    [row] = cli("sources", "--json").json()
    assert (row["name"], row["interval_seconds"], row["cron"]) == ("News", None, "*/30 6-22 * * *")
    cleared = cli("source", "edit", "1", "--name", "", "--every", "default").stdout
    assert cleared == f"source 1 {url} (kind auto): enabled, the default schedule\n"

    assert "disabled" in cli("source", "disable", "1").stdout
    assert cli("sources", "--json").json()[0]["enabled"] is False
    assert cli("sources").stdout.splitlines()[0].endswith("(disabled)")
    assert "no source is due" in cli("check", "--all").stdout  # disabled: not checked
    assert ": enabled," in cli("source", "enable", "1").stdout
    assert "changed" in cli("check").stdout


def test_source_verbs_refuse_bad_input_in_one_line(site: Site, cli) -> None:
    url = site.publish("/feed.xml", RSS, "application/rss+xml")
    cli("add", url, "--name", "Kept")
    for args, message in [
        (("source", "edit", "7", "--name", "x"), "no source 7"),
        (("source", "enable", "7"), "no source 7"),
        (("source", "edit", "1"), "say what to change"),
        (("source", "edit", "1", "--every", "soon"), "not a check interval"),
        (("source", "edit", "1", "--cron", "every hour"), "not a cron line"),
    ]:
        result = cli(*args, check=False)
        assert result.code == 2, args
        assert result.stderr.startswith("redline: ") and message in result.stderr
        assert result.stderr.count("\n") == 1
    both = cli("source", "edit", "1", "--every", "1h", "--cron", "0 * * * *", check=False)
    assert both.code == 2 and "not allowed with argument" in both.stderr  # argparse
    assert cli("sources", "--json").json()[0]["name"] == "Kept"  # nothing changed


def test_feed_links_use_the_configured_serve_port(cli, tmp_path: Path) -> None:
    config = tmp_path / "redline.toml"
    config.write_text('[serve]\nhost = "127.0.0.1"\nport = 8123\n')
    feed = cli("--config", str(config), "feed").stdout
    assert "http://127.0.0.1:8123/feeds/edits.atom" in feed
    assert ":8000" not in feed
    given = cli("--config", str(config), "feed", "--public-url", "https://news.example").stdout
    assert "https://news.example/feeds/edits.atom" in given
