"""A change's diff is stored with its unchanged runs as lengths (storage/stored_diff.py)
and read back whole from the version it leads from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from storage import Change, Version, queries, stored_diff, transaction
from tracker.compare import diff
from tracker.normalise import LIST_FIELDS
from tracker.record import history

from .recorded import FLOODS_HEADLINES, record_floods

MOMENT = datetime(2026, 3, 1, tzinfo=UTC)


def _version(**fields: Any) -> Version:
    return Version(item_id=1, n=1, observed_at=MOMENT, last_observed_at=MOMENT, **fields)


def assert_whole_diff(
    whole: dict[str, Any] | None, change: Change, versions: Sequence[Version]
) -> None:
    """`whole` is `change`'s stored diff read back: each text field's old and new sides
    are its two versions' values, and stored, its unchanged runs are lengths."""
    if change.diff is None:
        assert whole is None
        return
    assert whole is not None and whole.keys() == change.diff.keys()
    by_id = {version.id: version for version in versions}
    before, after = by_id[change.from_version_id], by_id[change.to_version_id]
    for name, ops in whole.items():
        assert all(isinstance(text, str) for _, text in ops), name
        if name in LIST_FIELDS:
            assert change.diff[name] == ops  # diffed entry by entry: stored whole
            continue
        assert diff.old_text(ops) == (getattr(before, name) or ""), name
        assert diff.new_text(ops) == (getattr(after, name) or ""), name
        kept = [value for op, value in change.diff[name] if op == diff.EQUAL]
        assert all(isinstance(value, int) for value in kept), name
    assert stored_diff.pack(whole, before) == change.diff


def test_unchanged_runs_are_stored_as_lengths_and_read_back() -> None:
    before = _version(headline="Storm leaves 8 dead in the north")
    whole = {"headline": [[0, "Storm leaves "], [-1, "8"], [1, "12"], [0, " dead in the north"]]}
    stored = stored_diff.pack(whole, before)
    assert stored == {"headline": [[0, 13], [-1, "8"], [1, "12"], [0, 18]]}
    assert stored_diff.unpack(stored, before) == whole


def test_a_field_the_version_lacks_is_read_as_empty() -> None:
    before = _version(headline="Storm", summary=None)
    whole = {"summary": [[1, "Twelve dead."]]}
    assert stored_diff.pack(whole, before) == whole
    assert stored_diff.unpack(whole, before) == whole


def test_a_diff_whose_old_side_is_not_the_versions_text_is_stored_whole() -> None:
    before = _version(headline="Storm leaves 8 dead", tags=["weather", "north"])
    lists = {"tags": [[0, "weather"], [-1, "north"], [1, "south"]]}
    other = {"headline": [[0, "Storm leaves "], [-1, "9"], [1, "12"], [0, " dead"]]}
    assert stored_diff.pack(lists, before) == lists
    assert stored_diff.pack(other, before) == other
    assert stored_diff.pack(other, None) == other  # no version: nothing to read back from
    assert stored_diff.unpack(lists, before) == lists


def test_a_diff_that_does_not_fit_its_version_shows_its_kept_runs_as_elided(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = _version(headline="Storm leaves 8 dead")
    stored = stored_diff.pack(
        {"headline": [[0, "Storm leaves "], [-1, "8"], [1, "12"], [0, " dead"]]}, before
    )
    elided = {"headline": [[0, "…"], [-1, "8"], [1, "12"], [0, "…"]]}
    for other in (None, _version(headline="Storm leaves 9 dead"), _version(headline="Storm")):
        assert stored_diff.unpack(stored, other) == elided
    assert "does not fit" in caplog.text


_TEXT = st.text(alphabet=st.sampled_from(["a", "b", " ", "é", "😀", "\n"]), max_size=30)


@given(old=_TEXT, new=_TEXT)
def test_any_word_diff_reads_back_as_it_was_stored(old: str, new: str) -> None:
    ops = [[op, text] for op, text in diff.diff_text(old, new)]
    before = _version(headline=old)
    stored = stored_diff.pack({"headline": ops}, before)
    assert stored_diff.unpack(stored, before) == {"headline": ops}
    assert not any(isinstance(v, str) for op, v in stored["headline"] if op == diff.EQUAL)


def test_recorded_edits_are_stored_packed_and_every_reader_shows_them_whole(
    engine: Engine,
) -> None:
    item_id = record_floods(engine)
    with transaction(engine) as session:
        changes = [c for c in queries.changes_of(session, item_id) if c.kind == "edited"]
        versions = list(queries.versions_of(session, item_id))
        assert len(changes) == len(FLOODS_HEADLINES) - 1
        bases = queries.diff_bases(session, changes)
        # Only the packed diffs need their versions read: one wholly replaced needs none.
        packed = [c for c in changes if c.diff and stored_diff.is_packed(c.diff)]
        assert 0 < len(packed) < len(changes)
        assert bases.keys() == {c.from_version_id for c in packed}
        for change in changes:
            before = bases.get(change.from_version_id or 0)
            whole = history.whole_diff(change, before)
            assert_whole_diff(whole, change, versions)
            assert history.stored_diff_ops(change, before) == {
                name: [(op, text) for op, text in ops] for name, ops in (whole or {}).items()
            }
