"""Answers written from plain rows (feeds/api/plain.py) are exactly what their response
models write: every field, in its documented type and form (times in UTC with Z, days
as YYYY-MM-DD), nothing more and nothing less."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from feeds.api.models import (
    ChangePage,
    CheckPage,
    DiffOut,
    ItemDetail,
    ItemPage,
    SourceOut,
    SourcePage,
)
from feeds.api.notifications import NotificationsOut
from feeds.api.plain import json_bytes
from feeds.app import create_app
from feeds.settings import ServiceSettings
from storage import Delivery, Item, transaction
from tests.databases import Backend

from .conftest import Receiver, Site, filled_per_module, shared_copy
from .test_http_api import client_for, fill

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def fill_with_a_day(site: Site, engine: Engine) -> None:
    """test_http_api's database, and an item with a day of its own."""
    fill(site, engine)
    with transaction(engine) as session:
        item = session.get(Item, 1)
        assert item is not None
        item.event_date = date(2018, 2, 2)
        session.add(item)


# Filled once for the module; the tests reading it through `client` share one copy (they
# only send GETs).
filled_database, db_url = filled_per_module("plain", fill_with_a_day, set())


@pytest.fixture(scope="module")
def client(backend: Backend, filled_database: tuple[str, None]) -> Iterator[TestClient]:
    with (
        shared_copy(backend, filled_database, "plain-read") as engine,
        client_for(engine) as client,
    ):
        yield client


LISTS: list[tuple[str, str, type[BaseModel]]] = [
    ("/api/changes", "changes", ChangePage),
    ("/api/changes?limit=3&kind=editorial", "changes", ChangePage),
    ("/api/items", "items", ItemPage),
    ("/api/items?limit=2", "items", ItemPage),
    ("/api/sources", "sources", SourcePage),
    ("/api/sources?limit=1", "sources", SourcePage),
    ("/api/sources/1/checks", "checks", CheckPage),
    ("/api/sources/1", "url", SourceOut),
    ("/api/items/1", "urls", ItemDetail),
    ("/api/items/1/diff", "fields", DiffOut),
]


@pytest.mark.parametrize(("path", "key", "model"), LISTS)
def test_each_answer_is_what_its_response_model_writes(
    client: TestClient, path: str, key: str, model: type[BaseModel]
) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body[key], "an empty list would prove nothing"
    assert model.model_validate(body).model_dump(mode="json", by_alias=True) == body


def test_the_items_list_shows_an_event_day_as_a_day(client: TestClient) -> None:
    [item] = [i for i in client.get("/api/items").json()["items"] if i["id"] == 1]
    assert item["event_date"] == "2018-02-02"
    assert item["first_seen_at"].endswith("Z")


def test_json_bytes_writes_what_fastapi_writes_for_a_model() -> None:
    class Sample(BaseModel):
        at: datetime
        whole_second: datetime
        day: date
        text: str
        share: float

    values = {
        "at": datetime(2026, 3, 2, 8, 30, 15, 250000, tzinfo=UTC),
        "whole_second": datetime(2026, 3, 2, 8, tzinfo=UTC),
        "day": date(2026, 3, 2),
        "text": "Zürich — “quoted”",
        "share": 0.779,
    }
    written = json_bytes(values)
    assert json.loads(written) == Sample(**values).model_dump(mode="json")
    assert "Zürich".encode() in written  # UTF-8, not \\u escapes, as FastAPI writes it
    assert b'"at":"2026-03-02T08:30:15.250000Z"' in written


def test_the_notifications_overview_is_what_its_response_model_writes(
    engine: Engine, receiver: Receiver
) -> None:
    """With a subscription (its target shown without secrets) and a delivery given up."""
    app = create_app(engine, ServiceSettings(api_token="a-token"))
    auth = {"Authorization": "Bearer a-token"}
    with TestClient(app) as client:
        made = client.post(
            "/api/subscriptions",
            json={"target": receiver.url(), "filters": {"tags": ["Politics"]}},
            headers=auth,
        )
        assert made.status_code == 201, made.text
        with transaction(engine) as session:
            session.add(
                Delivery(
                    key="d-1",
                    subscription_id=made.json()["id"],
                    event={"kind": "source_quiet", "source_id": 1},
                    state="dead",
                    attempts=9,
                    last_error="HTTP 500 from the receiver",
                )
            )
        body = client.get("/api/notifications", headers=auth).json()
    assert body["subscriptions"] and body["dead"]
    assert NotificationsOut.model_validate(body).model_dump(mode="json", by_alias=True) == body
