"""New rows built without SQLModel's constructor (storage/rows.py) are the same rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, select

from storage import Change, Item, ItemAlias, ItemSighting, Source, Version, transaction
from storage.rows import new_row

NOW = datetime(2018, 2, 2, 18, 30, 19, tzinfo=UTC)


def _table_models() -> list[type[SQLModel]]:
    import storage.models

    return [
        model
        for model in vars(storage.models).values()
        if isinstance(model, type) and issubclass(model, SQLModel) and hasattr(model, "__table__")
    ]


def _a_value(annotation: str) -> object:
    for kind, value in (("datetime", NOW), ("float", 0.5), ("int", 1), ("bool", True)):
        if kind in annotation:
            return value
    return "x"


@pytest.mark.parametrize("model", _table_models(), ids=lambda model: model.__name__)
def test_a_new_row_holds_what_the_constructor_gives(model: type[SQLModel]) -> None:
    # Only the required fields given: every default is the model's own.
    required = {
        name: _a_value(str(info.annotation))
        for name, info in model.model_fields.items()
        if info.is_required()
    }
    built, constructed = new_row(model, **required), model(**required)
    made_now = {
        name
        for name, info in model.model_fields.items()
        if info.default_factory is not None and isinstance(getattr(constructed, name), datetime)
    }  # utcnow defaults: a few microseconds apart
    assert built.model_dump(exclude=made_now) == constructed.model_dump(exclude=made_now)
    assert built.model_fields_set == constructed.model_fields_set == set(required)
    for name in made_now:
        assert abs(getattr(built, name) - getattr(constructed, name)).total_seconds() < 60


def test_list_defaults_are_not_shared_between_rows() -> None:
    first = new_row(
        Change, item_id=1, source_id=1, kind="created", occurred_at=NOW, recorded_at=NOW
    )
    second = new_row(
        Change, item_id=1, source_id=1, kind="created", occurred_at=NOW, recorded_at=NOW
    )
    first.fields.append("headline")
    assert second.fields == []


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(TypeError, match="Version has no field headlin"):
        new_row(Version, item_id=1, n=1, headlin="typo")


def test_new_rows_are_written_and_changed_like_constructed_ones(engine: Engine) -> None:
    with transaction(engine) as session:
        source = Source(url="https://news.example/index.json")
        session.add(source)
        session.flush()
        assert source.id is not None
        item = new_row(Item, source_id=source.id, key="u:1", first_seen_at=NOW, last_seen_at=NOW)
        session.add(item)
        session.flush()  # the database gives it its id
        assert item.id is not None
        version = new_row(
            Version,
            item_id=item.id,
            n=1,
            headline="Zehn Verletzte",
            content_hash="ab" * 32,
            origin="observed",
            observed_at=NOW,
            last_observed_at=NOW,
        )
        change = new_row(
            Change,
            item_id=item.id,
            source_id=source.id,
            kind="created",
            occurred_at=NOW,
            recorded_at=NOW,
        )
        change.fields = ["headline"]  # set after it is built, as the record path does
        session.add_all(
            [
                version,
                change,
                new_row(ItemAlias, item_id=item.id, source_id=source.id, kind="url", value="u"),
                new_row(ItemSighting, item_id=item.id, source_id=source.id, first_seen_at=NOW),
            ]
        )
        session.flush()
        item.version_count = 1  # a change to a row built by new_row is an UPDATE
        session.add(item)
        item_id, source_id = item.id, source.id
    with transaction(engine) as session:
        stored_item = session.get(Item, item_id)
        assert stored_item is not None
        assert (stored_item.version_count, stored_item.listed, stored_item.removed_at) == (
            1,
            False,
            None,
        )
        stored = session.exec(select(Version).where(Version.item_id == item_id)).one()
        assert (stored.headline, stored.content_hash, stored.observed_at) == (
            "Zehn Verletzte",
            "ab" * 32,
            NOW,
        )
        logged = session.exec(select(Change).where(Change.item_id == item_id)).one()
        assert (logged.kind, logged.fields, logged.diff, logged.reasons) == (
            "created",
            ["headline"],
            None,
            None,
        )
        assert logged.stored_at is not None  # the default factory ran
        sighting = session.exec(select(ItemSighting).where(ItemSighting.item_id == item_id)).one()
        assert (sighting.source_id, sighting.listed, sighting.removed_at) == (
            source_id,
            False,
            None,
        )
        alias = session.exec(select(ItemAlias).where(ItemAlias.item_id == item_id)).one()
        assert (alias.kind, alias.value) == ("url", "u")
