"""Notifications through the API, token-guarded (reads too: they show targets and the
errors of their deliveries): GET /api/notifications (subscriptions, their deliveries by
state, the deliveries given up), POST /api/subscriptions and DELETE
/api/subscriptions/{id}, as `redline notify add|list|remove` (tracker/notify/)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Security
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from feeds.api.guards import WRITE_RESPONSES, GuardedRoute, bearer, require_token
from feeds.api.models import NOT_FOUND, Out
from feeds.api.plain import PlainJSON
from feeds.ids import SubscriptionId
from storage import Delivery, queries, transaction
from tracker.errors import UserError
from tracker.normalise import redact_url
from tracker.notify import entries, subscriptions

MAX_DEAD = 50  # the newest deliveries given up that GET /api/notifications lists
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong bearer token"},
    403: {"description": "no API token is configured"},
}

router = APIRouter(route_class=GuardedRoute)


class SubscriptionOut(Out):
    id: int
    name: str | None
    target: str = Field(description="scheme, host and port only: tokens and paths left out")
    kind: str = Field(description="webhook, mastodon, bluesky or apprise")
    filters: dict[str, list[Any]]
    per_minute: int
    from_config: bool = Field(description="from redline.toml's [[notify]] (changed there)")
    deliveries: dict[str, int] = Field(description="pending, sent and dead (given up)")
    last_error: str | None


class SubscriptionCreated(SubscriptionOut):
    secret: str | None = Field(description="a webhook's signing secret: shown in this answer only")


class DeadDelivery(Out):
    delivery: str
    subscription_id: int
    change_id: int | None = Field(description="null: a source's health alert (see event)")
    event: dict[str, Any] | None = Field(description="a health alert: quiet or recovered")
    attempts: int
    last_error: str | None
    created_at: datetime


class NotificationsOut(Out):
    subscriptions: list[SubscriptionOut]
    dead: list[DeadDelivery] = Field(description=f"the newest {MAX_DEAD} deliveries given up")


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: str = Field(max_length=entries.MAX_TARGET, description="http(s) or Apprise URL")
    name: str | None = Field(None, max_length=100)
    secret: str | None = Field(None, max_length=500, description="default: a random one")
    per_minute: int | None = Field(None, ge=1, le=entries.MAX_PER_MINUTE)
    filters: dict[str, list[Annotated[str, Field(max_length=200)] | int]] | None = Field(
        None,
        description="sources, sites, tags, items, fields, classes, kinds: lists of values",
    )


@router.get(
    "/api/notifications",
    response_model=NotificationsOut,
    responses=READ_RESPONSES,
    dependencies=[Security(bearer), Depends(require_token)],
    tags=["notifications"],
)
def list_notifications(request: Request) -> PlainJSON:
    """Subscriptions and their deliveries (as `redline notify list --json`), and the
    deliveries given up."""
    per_minute = request.app.state.settings.notify_per_minute
    with Session(request.app.state.engine) as session:
        subs = subscriptions.all_subscriptions(session)
        rows = subscriptions.overview(session, subs, per_minute)
        dead = queries.plain_rows(
            session,
            select(queries.columns(Delivery))
            .where(col(Delivery.state) == "dead")
            .order_by(col(Delivery.id).desc())
            .limit(MAX_DEAD),
        )
    return PlainJSON(  # NotificationsOut's JSON (feeds/api/plain.py)
        {
            "subscriptions": rows,
            "dead": [
                {
                    "delivery": d.key,
                    "subscription_id": d.subscription_id,
                    "change_id": d.change_id,
                    "event": d.event,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                    "created_at": d.created_at,
                }
                for d in dead
            ],
        }
    )


@router.post(
    "/api/subscriptions",
    response_model=SubscriptionCreated,
    status_code=201,
    responses=WRITE_RESPONSES,
    dependencies=[Security(bearer)],
    tags=["notifications"],
)
def create_subscription(body: SubscriptionIn, request: Request) -> SubscriptionCreated:
    """Subscribe a target to changes (as `redline notify add`)."""
    try:
        with transaction(request.app.state.engine) as session:
            sub = subscriptions.add_subscription(
                session, body.target, body.filters or {}, body.name, body.secret, body.per_minute
            )
            [row] = subscriptions.overview(
                session, [sub], request.app.state.settings.notify_per_minute
            )
            secret = sub.secret if body.secret is None else None
    except UserError as error:
        raise HTTPException(400, redact_url(str(error))) from error
    return SubscriptionCreated(**row, secret=secret)


@router.delete(
    "/api/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    responses=NOT_FOUND | WRITE_RESPONSES,
    dependencies=[Security(bearer)],
    tags=["notifications"],
)
def delete_subscription(subscription_id: SubscriptionId, request: Request) -> SubscriptionOut:
    """Remove a subscription and its deliveries (one from redline.toml is removed there)."""
    try:
        with transaction(request.app.state.engine) as session:
            sub = subscriptions.find_subscription(session, str(subscription_id))
            if sub.from_config:
                raise HTTPException(400, "this subscription is from redline.toml: remove it there")
            [row] = subscriptions.overview(
                session, [sub], request.app.state.settings.notify_per_minute
            )
            subscriptions.remove_subscription(session, sub)
    except UserError as error:
        raise HTTPException(404, str(error)) from error
    return SubscriptionOut(**row)
