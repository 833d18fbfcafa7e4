"""Pictures of edits: drawn without a browser, sized for social cards, with alt text."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from feeds.app import create_app
from storage import Change
from tracker.present import diff_image

from .conftest import Site
from .test_notify import storm_edited

# What is tested here does not depend on the database (see conftest.py).
pytestmark = pytest.mark.one_database

WHEN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
EDIT = [[0, "Storm leaves "], [-1, "8"], [1, "12"], [0, " dead"]]


def near(pixel: tuple[int, int, int], colour: tuple[int, int, int], slack: int = 40) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(pixel, colour, strict=True))


def marked(png: bytes, colour: tuple[int, int, int]) -> tuple[int, int]:
    """(pixels of this colour in the upper half, in the lower half) of the picture."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    raw = image.tobytes()  # RGB, row after row
    upper = lower = 0
    for index in range(0, len(raw), 3):
        if near((raw[index], raw[index + 1], raw[index + 2]), colour, 30):
            if index // 3 // image.width < image.height // 2:
                upper += 1
            else:
                lower += 1
    return upper, lower


def test_a_card_strikes_the_old_words_in_red_and_marks_the_new_in_green() -> None:
    png = diff_image.render_png("headline", EDIT, "News", WHEN)
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (1200, 630))
    red_upper, red_lower = marked(png, diff_image.GONE)
    green_upper, green_lower = marked(png, diff_image.CAME)
    assert red_upper > 50 and red_lower == 0  # "8", struck through, before
    assert green_lower > 50 and green_upper == 0  # "12", after
    unchanged = diff_image.render_png("headline", [[0, "Storm leaves 8 dead"]], "News", WHEN)
    assert marked(unchanged, diff_image.GONE) == (0, 0)


def test_long_and_non_latin_headlines_fit() -> None:
    long = [[0, "Шторм оставил "], [-1, "8"], [1, "12"], [0, " погибших " * 60]]
    png = diff_image.render_png("headline", long, None, None)
    assert Image.open(io.BytesIO(png)).size == (1200, 630)


def test_alt_text_says_both_headlines_in_words() -> None:
    said = diff_image.alt_text("headline", EDIT, "News")
    assert said == "Headline changed from “Storm leaves 8 dead” to “Storm leaves 12 dead” (News)."
    assert len(diff_image.alt_text("summary", [[1, "x" * 5000]], None)) == diff_image.MAX_ALT


def test_an_edits_picture_is_served_with_its_alt_text(site: Site, engine: Engine) -> None:
    storm_edited(site, engine)
    with Session(engine) as session:
        created, edited = session.exec(select(Change).order_by(col(Change.id))).all()
    with TestClient(create_app(engine)) as client:
        answer = client.get(f"/items/{edited.item_id}/changes/{edited.id}.png")
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
        assert unquote(answer.headers["redline-alt-text"]).startswith(
            "Headline changed from “Storm leaves 8 dead” to “Storm leaves 12 dead”"
        )
        assert marked(answer.content, diff_image.CAME)[1] > 50
        again = client.get(
            f"/items/{edited.item_id}/changes/{edited.id}.png",
            headers={"If-None-Match": answer.headers["etag"]},
        )
        assert again.status_code == 304
        assert client.get(f"/items/{created.item_id}/changes/{created.id}.png").status_code == 404
        assert client.get(f"/items/{edited.item_id + 1}/changes/{edited.id}.png").status_code == 404
        assert client.get(f"/items/{edited.item_id}/changes/99999999999.png").status_code == 404
