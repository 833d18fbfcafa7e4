"""[notifications]: the daemon's settings for sending notifications, read from redline.toml
by tracker/run/config.py; here, beside the sender that uses them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass
class NotifySettings:
    """[notifications]: how the daemon sends notifications (tracker/notify/)."""

    per_minute: int = 30  # deliveries a minute to one subscription, unless it says
    give_up_after: timedelta = timedelta(days=1)  # then a failing delivery is dead
    senders: int = 4  # subscriptions sent to at once
    # A delivery claimed by a sender that stopped (killed mid-send) is sent again after this.
    claim: timedelta = timedelta(minutes=2)
    # A source quiet this long is reported (None: learnt per source, tracker/notify/quiet.py).
    quiet_after: timedelta | None = None
