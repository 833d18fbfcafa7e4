"""Sending one message to one target: a signed webhook POST, or an Apprise notification.

A webhook receives the message's JSON with these headers:
- Redline-Delivery: the delivery's id, the same on every attempt (drop repeats by it)
- Redline-Event: "change" (or "test", from `redline notify test`)
- Redline-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the
  subscription's secret>; a receiver recomputes it over the raw body and refuses a
  mismatch or a t too far from its clock (verify_signature does exactly that).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import httpx

from tracker import __version__
from tracker.fetch import addresses, host_pools, netguard
from tracker.notify.message import Message
from tracker.words import one_line

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
SIGNATURE_HEADER = "Redline-Signature"
DELIVERY_HEADER = "Redline-Delivery"
EVENT_HEADER = "Redline-Event"
TOLERANCE_SECONDS = 300  # how far a signature's time may be from the receiver's clock
MAX_ERROR = 300


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str | None = None
    retry_after: float | None = None  # seconds the target asked us to wait (429, 503)
    gone: bool = False  # nothing to send any more: give it up now


def make_client() -> httpx.Client:
    """A client for webhooks: the addresses sources may be fetched from, no redirects (a
    signed body is for the URL it was sent to)."""
    return httpx.Client(
        # A pool per target host (tracker/fetch/host_pools.py): the senders' threads share
        # this client, and one pool for every host closed one's idle connection to open
        # another's.
        transport=host_pools.guarded_host_pools(addresses.current_policy(), per_host=8),
        timeout=TIMEOUT,
        follow_redirects=False,
        headers={"User-Agent": f"redline/{__version__}"},
    )


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, now: float | None = None) -> bool:
    """What a receiver does: the signature matches the body, and its time is recent."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    stamp = parts.get("t", "")
    if not stamp.isdigit() or "v1" not in parts:
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, int(stamp), body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts["v1"])


def body_of(message: Message, delivery: str) -> bytes:
    document = {"delivery": delivery, **message.document}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def send_webhook(
    client: httpx.Client, url: str, secret: str | None, delivery: str, message: Message
) -> Outcome:
    body = body_of(message, delivery)
    headers = {
        "Content-Type": "application/json",
        DELIVERY_HEADER: delivery,
        EVENT_HEADER: str(message.document.get("event", "change")),
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, int(time.time()), body)
    try:
        response = client.post(url, content=body, headers=headers)
    except (httpx.HTTPError, netguard.AddressRefused) as error:
        return Outcome(False, short(f"{type(error).__name__}: {error}"))
    if 200 <= response.status_code < 300:
        return Outcome(True)
    return Outcome(
        False,
        f"HTTP {response.status_code}",
        _retry_after(response.headers.get("retry-after")),
    )


def quiet_apprise() -> ModuleType:
    """Apprise, its log kept to itself: its errors are read from a LogCapture and said in
    redline's own words (one line), not printed as log lines of their own."""
    import apprise

    logger = logging.getLogger("apprise")
    if logger.propagate:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    return apprise


def send_apprise(target: str, message: Message) -> Outcome:
    """Through Apprise; an edit's picture goes as an attachment where the service takes
    one (Slack, Discord, e-mail, Telegram, json://, ...)."""
    apprise = quiet_apprise()
    notifier = apprise.Apprise()
    if not notifier.add(target):
        return Outcome(False, "Apprise does not know this URL")
    with tempfile.TemporaryDirectory(prefix="redline-notify-") as folder:
        attach = None
        if message.picture is not None:
            path = Path(folder) / "edit.png"
            path.write_bytes(message.picture.png())
            attach = apprise.AppriseAttachment(str(path))
        with apprise.LogCapture(level=logging.WARNING) as captured:
            sent = notifier.notify(title=message.title, body=message.body, attach=attach)
    if sent:
        return Outcome(True)
    said = [line.strip() for line in captured.getvalue().splitlines() if line.strip()]
    return Outcome(False, short(said[-1] if said else "Apprise could not send it"))


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return min(float(value.strip()), 24 * 3600.0)
    return None


def short(text: str) -> str:
    """An error as one line of at most MAX_ERROR characters."""
    return one_line(text, MAX_ERROR)
