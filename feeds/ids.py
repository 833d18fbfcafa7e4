"""Row ids in request paths, one rule for every route: an id no row can have is not found.

Ids are INTEGER columns, 32-bit on PostgreSQL (storage.MAX_ID). An id above that range
answers 404 like any id without a row, on both databases, before it reaches a query
(PostgreSQL would refuse to compare it, SQLite to bind one above 64 bits). Query
parameters that hold ids declare `le=MAX_ID` instead, so a bigger one is a validation
error (422) and the schema shows the range.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path

from storage import MAX_ID


def known_id(value: int, kind: str) -> int:
    """value, if a row could have it; else 404 "no KIND VALUE"."""
    if not 1 <= value <= MAX_ID:
        raise HTTPException(404, f"no {kind} {value}")
    return value


# async: no I/O, so no hop to the thread pool.
async def _item_id(item_id: Annotated[int, Path(ge=1, description="an item id")]) -> int:
    return known_id(item_id, "item")


async def _source_id(source_id: Annotated[int, Path(ge=1, description="a source id")]) -> int:
    return known_id(source_id, "source")


async def _subscription_id(
    subscription_id: Annotated[int, Path(ge=1, description="a subscription id")],
) -> int:
    return known_id(subscription_id, "subscription")


ItemId = Annotated[int, Depends(_item_id)]
SourceId = Annotated[int, Depends(_source_id)]
SubscriptionId = Annotated[int, Depends(_subscription_id)]
