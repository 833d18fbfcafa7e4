"""The Wayback Machine's Save Page Now, as redline asks it: one step of one save at a time.

With an archive.org account's keys ([archive] access_key, secret_key) a save goes
through SPN2: `POST {endpoint}/save` (form `url=...`, `Accept: application/json`,
`Authorization: LOW key:secret`) answers a job id; `GET {endpoint}/save/status/{job}`
then says pending, success (with the capture's timestamp) or error. Without keys, the
anonymous `GET {endpoint}/save/{url}` captures the page and answers where the capture
is (its Content-Location, a Link rel="memento", or a redirect's Location).

Hand-written rather than through `savepagenow` or `waybackpy`: both fix the host to
web.archive.org (tests and mirrors need another endpoint), go through `requests` (so
not through tracker/fetch/netguard.py's address guard), and wait for a capture by blocking;
here each step is one bounded request and the caller comes back for a pending job.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

import httpx

from storage import utcnow
from tracker import __version__
from tracker.fetch import addresses, netguard
from tracker.run.config import ArchiveSettings
from tracker.run.schedule import parse_retry_after
from tracker.words import one_line

TIMEOUT = httpx.Timeout(60.0, connect=10.0)  # an anonymous save answers once captured
MAX_ERROR = 300
_TIMESTAMP = re.compile(r"^\d{4,14}$")
_MEMENTO = re.compile(r'<([^>]+)>\s*;[^,]*rel="[^"]*\bmemento\b')


@dataclass(frozen=True)
class Step:
    """What one request to the archive came to."""

    archived_url: str | None = None  # saved: where the capture is
    job_id: str | None = None  # the archive works on it: ask about this job later
    error: str | None = None  # failed: why, in one line
    retry_after: float | None = None  # seconds the archive asked us to wait (429, 503)


def make_client(timeout: httpx.Timeout | float = TIMEOUT) -> httpx.Client:
    """A client through the guarded transport: the archive is reached only at addresses
    sources may be fetched from ([fetch], REDLINE_ALLOW_NETWORKS)."""
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    return httpx.Client(
        transport=netguard.guarded_transport(addresses.current_policy(), limits),
        timeout=timeout,
        follow_redirects=False,  # a redirect's Location is the answer, not a page to fetch
        headers={"User-Agent": f"redline/{__version__} (archiving edited news pages)"},
    )


def step(
    client: httpx.Client,
    settings: ArchiveSettings,
    url: str,
    job_id: str | None = None,
    seconds: float | None = None,
) -> Step:
    """The next step of saving `url`: ask about `job_id` if the archive is working on it,
    else ask for a save; in `seconds` at most (None: the client's timeout). Never raises
    for the archive's or the network's failures."""
    try:
        with _within(client, seconds):
            if job_id is not None:
                return _status(client, settings, job_id)
            if settings.access_key and settings.secret_key:
                return _save_spn2(client, settings, url)
            return _save_anonymous(client, settings, url)
    except (httpx.HTTPError, netguard.AddressRefused) as error:
        return Step(error=short(f"{type(error).__name__}: {error}" if str(error) else repr(error)))


@contextmanager
def _within(client: httpx.Client, seconds: float | None) -> Iterator[None]:
    """The client's timeouts cut to `seconds` for the requests made meanwhile (a caller
    with a time budget: `redline check`)."""
    if seconds is None:
        yield
        return
    kept = client.timeout
    seconds = max(0.1, seconds)
    client.timeout = httpx.Timeout(
        min(kept.read or seconds, seconds), connect=min(kept.connect or seconds, seconds)
    )
    try:
        yield
    finally:
        client.timeout = kept


def _auth(settings: ArchiveSettings) -> dict[str, str]:
    return {
        "Accept": "application/json",
        "Authorization": f"LOW {settings.access_key}:{settings.secret_key}",
    }


def _save_spn2(client: httpx.Client, settings: ArchiveSettings, url: str) -> Step:
    response = client.post(f"{settings.endpoint}/save", data={"url": url}, headers=_auth(settings))
    failed = _failure(response)
    if failed:
        return failed
    document = _json(response)
    job = document.get("job_id") if isinstance(document, dict) else None
    if not isinstance(job, str) or not job.strip():
        message = document.get("message") if isinstance(document, dict) else None
        return Step(error=short(f"the archive gave no job: {message or response.text[:200]}"))
    return Step(job_id=job.strip())


def _status(client: httpx.Client, settings: ArchiveSettings, job_id: str) -> Step:
    response = client.get(
        f"{settings.endpoint}/save/status/{quote(job_id, safe='')}", headers=_auth(settings)
    )
    failed = _failure(response)
    if failed:
        return Step(job_id=job_id, error=failed.error, retry_after=failed.retry_after)
    document = _json(response)
    status = document.get("status") if isinstance(document, dict) else None
    if status == "pending":
        return Step(job_id=job_id)
    if status == "success":
        stamp, original = str(document.get("timestamp", "")), document.get("original_url")
        if _TIMESTAMP.match(stamp) and isinstance(original, str) and original:
            return Step(archived_url=f"{settings.endpoint}/web/{stamp}/{original}")
        return Step(error="the archive said success but gave no timestamp and URL")
    if status == "error":
        why = document.get("message") or document.get("status_ext") or "no reason given"
        return Step(error=short(f"the archive could not save it: {why}"))
    return Step(error=short(f"the archive's job status is not understood: {response.text[:200]}"))


def _save_anonymous(client: httpx.Client, settings: ArchiveSettings, url: str) -> Step:
    response = client.get(f"{settings.endpoint}/save/{url}")
    failed = _failure(response)
    if failed:
        return failed
    for found in (
        response.headers.get("content-location"),
        _memento(response.headers.get("link", "")),
        response.headers.get("location") if response.is_redirect else None,
    ):
        archived = _archive_address(settings, found)
        if archived:
            return Step(archived_url=archived)
    return Step(
        error=f"the archive answered HTTP {response.status_code} without the capture's address"
    )


def _failure(response: httpx.Response) -> Step | None:
    """An error answer as a failed step (with the archive's Retry-After on 429 and 503);
    None for a success or a redirect."""
    if response.status_code < 400:
        runtime = response.headers.get("x-archive-wayback-runtime-error")
        return Step(error=short(f"the archive refused: {runtime}")) if runtime else None
    retry = None
    if response.status_code in (429, 503):
        retry = _seconds(response.headers.get("retry-after"))
    return Step(error=f"the archive answered HTTP {response.status_code}", retry_after=retry)


def _seconds(value: str | None) -> float | None:
    wait = parse_retry_after(value, utcnow())
    return max(0.0, wait.total_seconds()) if wait is not None else None


def _archive_address(settings: ArchiveSettings, found: str | None) -> str | None:
    """A capture's address (/web/<timestamp>/<url>) made absolute; None if it is not one."""
    if not found:
        return None
    address = urljoin(settings.endpoint + "/", found.strip())
    path = urlsplit(address).path
    return address if re.match(r"^/web/\d{4,14}[a-z_]*/.+", path) else None


def _memento(link: str) -> str | None:
    match = _MEMENTO.search(link)
    return match.group(1) if match else None


def _json(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def short(text: str) -> str:
    return one_line(text, MAX_ERROR)
