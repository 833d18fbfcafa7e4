"""What the HTTP service needs to know: where it is published and who may write."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from tracker.errors import UserError

# A tag: URI's authority (RFC 4151 2.1): a domain name, or an e-mail address.
_DNS_NAME = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*"
_TAG_AUTHORITY = re.compile(rf"({_DNS_NAME}|[a-z0-9._-]+@{_DNS_NAME})", re.IGNORECASE)


@dataclass(frozen=True)
class ServiceSettings:
    """Settings of `redline serve` (from redline.toml [serve] and REDLINE_* variables)."""

    public_url: str = "http://127.0.0.1:8000"  # absolute links in feeds and pages start here
    tag_authority: str = "redline.invalid"  # tag: URIs of feed entries are minted on this
    api_token: str | None = None  # bearer token for writes; None: writes are refused
    page_size: int = 50  # entries per feed page / items per API page (bounded)
    failing_after: int = 3  # [daemon] failing_after: errors in a row before "failing"
    notify_per_minute: int = 30  # [notifications] per_minute: a subscription's default rate

    @classmethod
    def from_env(cls, **overrides: object) -> ServiceSettings:
        values: dict[str, object] = {
            "public_url": os.environ.get("REDLINE_PUBLIC_URL", cls.public_url),
            "tag_authority": os.environ.get("REDLINE_TAG_AUTHORITY", cls.tag_authority),
            "api_token": os.environ.get("REDLINE_API_TOKEN") or None,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        values["public_url"] = check_public_url(str(values["public_url"]))
        values["tag_authority"] = check_tag_authority(str(values["tag_authority"]))
        return cls(**values)  # type: ignore[arg-type]


def check_public_url(url: str) -> str:
    """The service's public address if it is an http(s) URL with no query or fragment
    (links are made by appending paths to it); else a UserError."""
    from tracker.run.sources import check_source_url

    where = "the public URL (--public-url, [serve] public_url or REDLINE_PUBLIC_URL)"
    try:
        url = check_source_url(url)
    except UserError as error:
        raise UserError(f"{where}: {error}; e.g. https://news.example.org") from None
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise UserError(f"{where} cannot have a query or fragment: {url!r}")
    return url


def check_tag_authority(authority: str) -> str:
    """The tag: URI authority if it is a domain name or an e-mail address; else a UserError."""
    if not _TAG_AUTHORITY.fullmatch(authority):
        shown = authority if len(authority) <= 100 else authority[:100] + "..."
        raise UserError(
            f"the feed authority (--authority, [feed] authority or REDLINE_TAG_AUTHORITY) "
            f"is a domain name or e-mail address you control, e.g. news.example.org, "
            f"not {shown!r}"
        )
    return authority
