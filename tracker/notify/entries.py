"""What a subscription is made of, checked before anything is stored: its target (a
webhook, Mastodon, Bluesky or an Apprise URL), name, secret and rate, and redline.toml's
[[notify]] tables; and a target as it may be shown (redact).

Reading the configuration file needs these, not the database: kept apart from
subscriptions.py (which stores subscriptions), so that loading redline.toml does not
import the ORM (a `redline check` with nothing to do never needs it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tracker.errors import UserError
from tracker.fetch import addresses
from tracker.notify.filters import parse_filters
from tracker.notify.kinds import bluesky_account, mastodon_instance, target_kind

MAX_TARGET = 2048
MAX_PER_MINUTE = 6000


@dataclass
class NotifyEntry:
    """A [[notify]] table of redline.toml, checked."""

    name: str
    target: str
    secret: str | None = None
    per_minute: int | None = None
    filters: dict[str, list[Any]] = field(default_factory=dict)


def check_target(target: str) -> str:
    """The target, stripped, if redline can send to it; else a one-line UserError."""
    target = str(target).strip()
    if (
        not target
        or len(target) > MAX_TARGET
        or "\x00" in target
        or any(c.isspace() for c in target)
    ):
        raise UserError(f"not a notification target: {target[:60]!r}")
    try:
        parts = urlsplit(target)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError as error:
        raise UserError(f"not a notification target: {target[:60]!r} ({error})") from None
    kind = target_kind(target)
    if kind == "webhook":
        if not parts.hostname:
            raise UserError(f"not a webhook URL: {target[:60]!r} (no host)")
    elif kind == "mastodon":
        mastodon_instance(target)  # a UserError if the host or the token is missing
    elif kind == "bluesky":
        bluesky_account(target)  # a UserError if the host, the handle or the password is missing
    elif not _apprise_knows(target):
        raise UserError(
            f"not a notification target: {redact(target)!r} is neither an http(s) webhook "
            "URL nor an Apprise URL (such as slack://, mailto://, ntfy://, json://; see "
            "https://github.com/caronc/apprise/wiki)"
        )
    addresses.check_url_host(target)  # a literal private address needs allowing, as a source
    return target


def _apprise_knows(target: str) -> bool:
    from tracker.notify.targets import quiet_apprise

    return bool(quiet_apprise().Apprise().add(target))


def check_per_minute(value: object) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()):
        raise UserError(f"per minute: a whole number from 1 to {MAX_PER_MINUTE}, not {value!r}")
    number = int(text[:6])
    if not 1 <= number <= MAX_PER_MINUTE:
        raise UserError(f"per minute: a whole number from 1 to {MAX_PER_MINUTE}, not {value!r}")
    return number


def check_name(name: object) -> str | None:
    if name is None:
        return None
    text = str(name).strip()
    if not text or len(text) > 100 or "\x00" in text or text.isdigit():
        raise UserError(
            f"not a subscription name: {str(name)[:40]!r} (1-100 characters, not a number)"
        )
    return text


def check_secret(secret: object, target: str) -> str | None:
    """A webhook's signing secret as given (None: none given); a one-line UserError if it
    is not 1-500 characters of text, or the target is no webhook."""
    if secret is None:
        return None
    if not isinstance(secret, str) or not secret.strip() or len(secret) > 500:
        raise UserError("secret: 1-500 characters")
    if target_kind(target) != "webhook":
        raise UserError("a secret signs webhook deliveries: this target is no webhook")
    return secret


def read_notify_tables(where: str, tables: object) -> list[NotifyEntry]:
    """redline.toml's [[notify]] tables, checked: each needs a name and a target."""
    if not isinstance(tables, list):
        raise UserError(f"{where}: notify is a list of [[notify]] tables")
    entries, names = [], set()
    for number, table in enumerate(tables, start=1):
        label = f"{where}: [[notify]] number {number}"
        if not isinstance(table, dict):
            raise UserError(f"{label} is not a table")
        unknown = sorted(set(table) - set(NOTIFY_KEYS))
        if unknown:
            raise UserError(
                f"{label}: unknown key {unknown[0]!r} (known: {', '.join(sorted(NOTIFY_KEYS))})"
            )
        if "name" not in table or "target" not in table:
            raise UserError(f"{label} needs a name and a target")
        try:
            name = check_name(table["name"])
            assert name is not None
            if name in names:
                raise UserError(f"the name {name!r} is used twice")
            names.add(name)
            target = check_target(str(table["target"]))
            secret = check_secret(table.get("secret"), target)
            entries.append(
                NotifyEntry(
                    name=name,
                    target=target,
                    secret=secret,
                    per_minute=check_per_minute(table.get("per_minute")),
                    filters=parse_filters({k: v for k, v in table.items() if k in _FILTER_KEYS}),
                )
            )
        except UserError as error:
            raise UserError(f"{label}: {error}") from None
    return entries


_FILTER_KEYS = ("sources", "sites", "tags", "items", "fields", "classes", "kinds")
# Every key a [[notify]] table may hold.
NOTIFY_KEYS = ("name", "target", "secret", "per_minute", *_FILTER_KEYS)


def redact(target: str) -> str:
    """The target as it may be shown: its scheme and host, the rest (tokens, passwords,
    paths that hold keys) left out. An Apprise URL shows its scheme only: many put a key
    where the host goes (slack://TokenA/..., tgram://BotToken/...)."""
    if target_kind(target) == "apprise":
        scheme = target.split("://", 1)[0] if "://" in target else "apprise"
        return f"{scheme}://…"
    try:
        parts = urlsplit(target)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable)"
    rest = "/…" if (parts.path.strip("/") or parts.query or parts.username) else ""
    return f"{parts.scheme}://{host}{port}{rest}"
