"""When a source is due (storage/due.py), and `redline check` with nothing to do: one
read on light Core tables, which must name the models' own columns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Boolean, String
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeEngine

from storage import Delivery, Source, Subscription, due, transaction, utcnow
from storage.types import UTCDateTime


@pytest.mark.one_database
@pytest.mark.parametrize(
    ("light", "model"),
    [(due.SOURCE, Source), (due.DELIVERY, Delivery), (due.SUBSCRIPTION, Subscription)],
)
def test_the_light_tables_name_the_models_columns(light, model) -> None:  # noqa: ANN001
    table = model.__table__
    assert light.name == table.name
    for column in light.c:
        stored = table.c[column.name]  # a KeyError: the light table names a column gone
        assert _kind(column.type) == _kind(stored.type), column.name


def _kind(column_type: TypeEngine) -> str:
    """What a column holds, as far as binding a value to it goes (sqlmodel's AutoString
    is a String)."""
    if isinstance(column_type, UTCDateTime):
        return "UTC time"
    for kind in (Boolean, String):
        if isinstance(column_type, kind) or isinstance(getattr(column_type, "impl", None), kind):
            return kind.__name__
    return repr(column_type)


def _source(engine: Engine, number: int, **values: object) -> None:
    with transaction(engine) as session:
        session.add(Source(url=f"https://news.example/{number}", **values))


def _subscription(engine: Engine) -> int:
    """A webhook subscription's id (deliveries need one)."""
    with transaction(engine) as session:
        subscription = Subscription(target="https://hooks.example/x")
        session.add(subscription)
        session.flush()
        assert subscription.id is not None
        return subscription.id


def test_nothing_to_do_until_a_source_is_due_or_a_delivery_waits(engine: Engine) -> None:
    now = utcnow()
    hour = timedelta(hours=1)
    assert due.nothing_to_do(engine, now)  # an empty database
    _source(engine, 1, next_check_at=now + hour)  # checked, next due later
    _source(engine, 2, enabled=False)  # never checked, but disabled
    _source(engine, 3, retired_at=now - hour)  # never checked, but retired
    assert due.nothing_to_do(engine, now)
    assert not due.nothing_to_do(engine, now + 2 * hour)  # the first is due by then

    _source(engine, 4, next_check_at=now - hour, leased_by="host:1:run", lease_until=now + hour)
    assert not due.nothing_to_do(engine, now)  # due and held elsewhere: worth a line
    with transaction(engine) as session:
        session.get(Source, 4).next_check_at = now + hour  # type: ignore[union-attr]

    assert due.nothing_to_do(engine, now)
    subscription = _subscription(engine)
    with transaction(engine) as session:
        for state in ("sent", "dead"):
            session.add(Delivery(key=state, subscription_id=subscription, state=state))
    assert due.nothing_to_do(engine, now)  # deliveries done with
    with transaction(engine) as session:
        session.add(Delivery(key="waiting", subscription_id=subscription))
    assert not due.nothing_to_do(engine, now)  # one waits to be sent


def test_a_check_with_nothing_due_still_sends_what_waits(engine: Engine, cli) -> None:  # noqa: ANN001
    """A delivery left pending (by a round that stopped) goes out with the next check,
    due sources or not: here one whose change is gone, which is given up when its turn
    comes."""
    subscription = _subscription(engine)
    with transaction(engine) as session:
        session.add(Delivery(key="k", subscription_id=subscription, change_id=999, item_id=1))
    done = cli("check")
    assert "no source is due" in done.stdout
    assert "notifications: 0 sent, 0 to be tried again, 1 given up" in done.stdout
    assert cli("check").stdout == "no source is due (use --all to check every source now)\n"


def test_subscriptions_from_the_configuration_file_are_found(engine: Engine) -> None:
    assert not due.any_from_config(engine)
    with transaction(engine) as session:
        session.add(Subscription(target="https://hooks.example/x"))  # `redline notify add`
    assert not due.any_from_config(engine)
    with transaction(engine) as session:
        session.add(Subscription(name="desk", target="json://x", from_config=True))
    assert due.any_from_config(engine)
