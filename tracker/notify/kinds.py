"""What kind of target a subscription's address is (a webhook, Mastodon, Bluesky or
Apprise), and what a Mastodon or Bluesky address holds."""

from __future__ import annotations

from urllib.parse import SplitResult, unquote, urlsplit

from tracker.errors import UserError

MASTODON = "mastodon+"  # mastodon+https://TOKEN@host: the scheme of a Mastodon target
BLUESKY = "bluesky+"  # bluesky+https://HANDLE:APP_PASSWORD@host: a Bluesky target


def target_kind(target: str) -> str:
    """webhook, mastodon, bluesky or apprise."""
    scheme = urlsplit(target).scheme.lower()
    if scheme in ("http", "https"):
        return "webhook"
    if scheme.startswith(MASTODON):
        return "mastodon"
    return "bluesky" if scheme.startswith(BLUESKY) else "apprise"


def mastodon_instance(target: str) -> tuple[str, str]:
    """(the instance's base URL, the access token) of a target; a UserError if either is
    missing."""
    parts = urlsplit(target)
    transport = parts.scheme.lower().removeprefix(MASTODON)
    if transport not in ("http", "https") or not parts.hostname:
        raise UserError("a Mastodon target is mastodon+https://ACCESS_TOKEN@instance.example")
    token = unquote(parts.username or "")
    if not token:
        raise UserError("a Mastodon target needs its access token: mastodon+https://TOKEN@host")
    return _base(transport, parts), token


def bluesky_account(target: str) -> tuple[str, str, str]:
    """(the PDS's base URL, the handle, the app password) of a target; a UserError if one
    is missing."""
    parts = urlsplit(target)
    transport = parts.scheme.lower().removeprefix(BLUESKY)
    if transport not in ("http", "https") or not parts.hostname:
        raise UserError(
            "a Bluesky target is bluesky+https://HANDLE:APP_PASSWORD@bsky.social (or your PDS)"
        )
    handle, password = unquote(parts.username or ""), unquote(parts.password or "")
    if not handle or not password:
        raise UserError(
            "a Bluesky target needs a handle and an app password: "
            "bluesky+https://HANDLE:APP_PASSWORD@bsky.social"
        )
    return _base(transport, parts), handle, password


def _base(transport: str, parts: SplitResult) -> str:
    """The service's base URL: the target's scheme without its prefix, host and port."""
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{transport}://{host}{f':{parts.port}' if parts.port else ''}"
