"""Fetching: conditional GET, redirects, the size cap and error messages, against 127.0.0.1."""

from __future__ import annotations

import pytest

from tracker.errors import FetchError
from tracker.fetch import fetch, make_client

from .conftest import Site


def test_conditional_get_and_redirects(site: Site) -> None:
    site.publish("/new.md", "# Headline\n")
    site.move("/new.md", "/newer.md")
    site.publish("/newer.md", "# Headline, edited\n")
    with make_client() as client:
        first = fetch(client, site.url("/new.md"))
        assert first.status == 200 and not first.not_modified
        assert first.requested_url == site.url("/new.md")
        assert first.final_url == site.url("/newer.md")
        assert first.text == "# Headline, edited\n" and first.etag
        again = fetch(client, site.url("/newer.md"), etag=first.etag)
    assert again.not_modified and again.body == b""


def test_a_page_over_the_size_cap_is_refused(site: Site) -> None:
    url = site.publish("/huge.md", "# Big\n" + "word " * 50_000)
    with make_client() as client:
        assert len(fetch(client, url).body) > 250_000
        with pytest.raises(FetchError, match="larger than 100000 bytes"):
            fetch(client, url, max_bytes=100_000)


def test_error_statuses_and_unreachable_hosts_are_fetch_errors(site: Site) -> None:
    with make_client() as client:
        with pytest.raises(FetchError, match="HTTP 404 NOT FOUND|HTTP 404 Not Found"):
            fetch(client, site.url("/missing.md"))
        with pytest.raises(FetchError, match="HTTP 503"):
            fetch(client, site.fail("/busy.md", 503))
        # Port 9 on loopback (discard) has no listener here: connection refused.
        with pytest.raises(FetchError, match="could not fetch http://127.0.0.1:9/"):
            fetch(client, "http://127.0.0.1:9/")


def test_a_redirect_loop_is_a_clear_error(site: Site) -> None:
    site.redirects["/a.md"] = "/b.md"
    site.redirects["/b.md"] = "/a.md"
    with make_client() as client, pytest.raises(FetchError, match="too many redirects"):
        fetch(client, site.url("/a.md"))
