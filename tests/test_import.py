"""`redline import`: git-scraped repositories and folders of snapshots, replayed as checks."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage import Change, Check, Item, Version, transaction

from .conftest import OFFSTREAM

T0 = datetime(2022, 2, 23, 18, 0, tzinfo=UTC)


def git(repo: Path, *args: str, when: datetime | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "scraper", "GIT_AUTHOR_EMAIL": "s@example.org"}
    env |= {"GIT_COMMITTER_NAME": "scraper", "GIT_COMMITTER_EMAIL": "s@example.org"}
    if when:
        # The author date is a day off on purpose: the committer date is the snapshot's.
        env |= {"GIT_COMMITTER_DATE": when.isoformat(), "GIT_AUTHOR_DATE": "2000-01-01T00:00Z"}
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def listing(headlines: dict[str, str]) -> str:
    """A git-scraped JSON listing, the shape news APIs have."""
    records = [
        {"id": key, "title": title, "url": f"https://news.example/{key}"}
        for key, title in headlines.items()
    ]
    return json.dumps({"articles": records}, indent=1)


# What the scraper committed, in order: (minutes after T0, the listing, or None: an
# unrelated commit that does not touch the file).
HISTORY: list[tuple[int, dict[str, str] | None]] = [
    (0, {"a": "Troops mass at the border", "b": "Markets fall"}),
    (10, None),
    (20, {"a": "Troops cross the border", "b": "Markets fall"}),
    (30, {"a": "Troops cross the border", "b": "Markets fall sharply", "c": "Talks called"}),
    (40, {"a": "Troops cross the border", "c": "Talks called off"}),
]


@pytest.fixture
def scraped(tmp_path: Path) -> Path:
    repo = tmp_path / "scraper"
    repo.mkdir()
    git(repo, "init", "-q")
    for minutes, headlines in HISTORY:
        when = T0 + timedelta(minutes=minutes)
        if headlines is None:
            (repo / "README.md").write_text(f"updated {minutes}\n")
            git(repo, "add", "README.md")
        else:
            (repo / "data.json").write_text(listing(headlines))
            git(repo, "add", "data.json")
        git(repo, "commit", "-q", "-m", f"Latest data {minutes}", when=when)
    return repo


def import_git(cli, repo: Path, *extra: str, check: bool = True):  # type: ignore[no-untyped-def]
    return cli(
        "import", "git", str(repo), "--path", "data.json", "--url",
        "https://news.example/api/latest.json", "--kind", "listing", "--items", "articles",
        *extra, check=check,
    )  # fmt: skip


def stored(engine: Engine) -> dict[str, list[tuple[str | None, datetime]]]:
    """Each item's key -> its versions' (headline, observed_at)."""
    with transaction(engine) as session:
        result: dict[str, list[tuple[str | None, datetime]]] = {}
        for item in session.exec(select(Item).order_by(Item.id)).all():  # type: ignore[arg-type]
            versions = session.exec(
                select(Version).where(Version.item_id == item.id).order_by(Version.n)  # type: ignore[arg-type]
            ).all()
            result[item.url or item.key] = [(v.headline, v.observed_at) for v in versions]
        return result


def test_every_commit_is_a_check_at_its_commit_time(cli, engine: Engine, scraped: Path) -> None:
    done = import_git(cli, scraped)
    assert "4 snapshots (2022-02-23T18:00:00Z to 2022-02-23T18:40:00Z)" in done.stdout
    assert "times from commit times (committer date, UTC)" in done.stdout
    assert "4 recorded now, 0 already imported, 0 unreadable" in done.stdout
    at = {m: T0 + timedelta(minutes=m) for m in (0, 20, 30, 40)}
    assert stored(engine) == {
        "https://news.example/a": [
            ("Troops mass at the border", at[0]),
            ("Troops cross the border", at[20]),
        ],
        "https://news.example/b": [("Markets fall", at[0]), ("Markets fall sharply", at[30])],
        "https://news.example/c": [("Talks called", at[30]), ("Talks called off", at[40])],
    }
    with transaction(engine) as session:
        kinds = sorted(c.kind for c in session.exec(select(Change)).all())
        removed = session.exec(select(Item).where(Item.url == "https://news.example/b")).one()
    assert kinds == ["created"] * 3 + ["edited"] * 3 + ["removed"]
    assert removed.removed_at == at[40]


def test_importing_again_adds_nothing(cli, engine: Engine, scraped: Path) -> None:
    import_git(cli, scraped)
    before = stored(engine)
    again = import_git(cli, scraped)
    assert "0 recorded now, 4 already imported" in again.stdout
    assert "0 new versions, 0 changes" in again.stdout
    assert stored(engine) == before
    with transaction(engine) as session:
        assert len(session.exec(select(Check)).all()) == 4


def test_an_interrupted_import_resumes_to_the_same_result(
    cli, engine: Engine, scraped: Path, tmp_path: Path
) -> None:
    # The first run stops after two snapshots (here: --until); the second takes the rest.
    first = import_git(cli, scraped, "--until", "2022-02-23T18:25:00")
    assert "2 recorded now" in first.stdout
    rest = import_git(cli, scraped)
    assert "2 recorded now, 2 already imported" in rest.stdout
    resumed = stored(engine)

    other = cli  # the same command on a second, fresh database
    fresh_db = f"sqlite:///{tmp_path / 'fresh.db'}"
    env_done = subprocess.run(
        [*_redline(), "--db", fresh_db, "import", "git", str(scraped), "--path", "data.json",
         "--url", "https://news.example/api/latest.json", "--kind", "listing",
         "--items", "articles"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert env_done.returncode == 0, env_done.stderr
    from storage import make_engine

    fresh = make_engine(fresh_db)
    try:
        assert stored(fresh) == resumed
    finally:
        fresh.dispose()
    del other


def test_since_and_until_take_a_window(cli, engine: Engine, scraped: Path) -> None:
    done = import_git(cli, scraped, "--since", "2022-02-23T18:15", "--until", "2022-02-23T18:35")
    assert "2 snapshots (2022-02-23T18:20:00Z to 2022-02-23T18:30:00Z)" in done.stdout


def test_git_errors_are_one_line(cli, scraped: Path, tmp_path: Path) -> None:
    not_repo = cli(
        "import", "git", str(tmp_path), "--path", "x.json", "--url", "https://x.example/",
        check=False,
    )  # fmt: skip
    assert not_repo.code == 2 and not_repo.stderr.startswith("redline: cannot read the git")
    untouched = cli(
        "import", "git", str(scraped), "--path", "nope.json", "--url", "https://x.example/",
        check=False,
    )  # fmt: skip
    assert untouched.code == 2 and "no commit of" in untouched.stderr
    nowhere = cli("import", "git", str(scraped), "--path", "data.json", check=False)
    assert nowhere.code == 2 and "--source ID, or --url URL" in nowhere.stderr
    missing = cli(
        "import", "git", str(scraped), "--path", "data.json", "--source", "9", check=False
    )
    assert missing.code == 2 and "no source 9" in missing.stderr


def test_a_folder_by_manifest_keeps_page_history_times(cli, engine: Engine) -> None:
    """The Offstream sample as it is: its manifest, its pages. A page's own Changes list
    gives earlier versions with the times it reports, and names its earlier URLs."""
    done = cli(
        "import", "dir", str(OFFSTREAM), "--manifest", str(OFFSTREAM / "manifest.json"),
        "--url", "https://offstream.news/", "--kind", "offstream",
    )  # fmt: skip
    assert "16 snapshots" in done.stdout and "times from the manifest" in done.stdout
    assert "0 unreadable" in done.stdout
    with transaction(engine) as session:
        versions = session.exec(select(Version)).all()
    palmyra = [v for v in versions if "recapture the ancient city of Palmyra" in (v.headline or "")]
    observed = min(v.observed_at for v in palmyra if v.origin == "observed")
    assert observed == datetime(2017, 8, 27, 3, 47, 56, tzinfo=UTC)  # the manifest's time
    # The Ivorian page (one snapshot) lists six headline versions in its Changes.
    ivorian = [
        v for v in versions if "Ivorian" in (v.headline or "") or "Bouak" in (v.headline or "")
    ]
    history = sorted((v for v in ivorian if v.origin == "page-history"), key=lambda v: v.n)
    # The first entry's time is when its headline was replaced: the second version's start.
    assert history[0].reported_at is None
    assert history[1].reported_at == datetime(2018, 1, 10, 20, 30, 5, tzinfo=UTC)
    assert len({v.item_id for v in ivorian}) == 1 and len(history) >= 5
    # The boat page changed its URL twice; each later page's Changes list names the
    # earlier URLs, so all its snapshots are one item.
    boat = {v.item_id for v in versions if "capsizes" in (v.headline or "")}
    assert len(boat) == 1


def test_a_folder_by_pattern_takes_times_from_file_names(
    cli, engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "snapshots"
    folder.mkdir()
    rows = ["title,href,tag,summary", "Headline one,/news/1,World,", "Headline two,/news/2,UK,"]
    (folder / "2022-02-23T184000Z_f2f821d057.csv").write_text("\n".join(rows) + "\n")
    rows[1] = '"Headline one, updated",/news/1,World,'
    (folder / "2022-02-23T182947Z_552a4ba8c7.csv").write_text("\n".join(rows[:2]) + "\n")
    done = cli(
        "import", "dir", str(folder), "--pattern", "*.csv", "--url", "https://www.bbc.com/",
        "--kind", "listing", "--map", "headline=title", "--map", "url=href",
    )  # fmt: skip
    assert "times from file names" in done.stdout
    assert "2 snapshots (2022-02-23T18:29:47Z to 2022-02-23T18:40:00Z)" in done.stdout
    versions = stored(engine)["https://www.bbc.com/news/1"]
    assert [h for h, _ in versions] == ["Headline one, updated", "Headline one"]


def test_the_same_snapshots_through_another_path_add_nothing(
    cli, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot is known by its content and time, not the path it was imported by."""
    folder = tmp_path / "snapshots"
    folder.mkdir()
    rows = ["title,href,tag,summary", "Headline one,/news/1,World,"]
    (folder / "2022-02-23T182947Z_552a4ba8c7.csv").write_text("\n".join(rows) + "\n")
    rows[1] = '"Headline one, updated",/news/1,World,'
    (folder / "2022-02-23T184000Z_f2f821d057.csv").write_text("\n".join(rows) + "\n")
    options = ["--url", "https://www.bbc.com/", "--kind", "listing"]
    cli("import", "dir", str(folder), "--pattern", "*.csv", *options)
    before = stored(engine)
    monkeypatch.chdir(tmp_path)
    again = cli("import", "dir", ".", "--pattern", "snapshots/*.csv", "--source", "1")
    assert "0 recorded now, 2 already imported" in again.stdout
    assert stored(engine) == before


def _redline() -> list[str]:
    from .conftest import redline_command

    return redline_command()


def test_import_on_a_terminal_draws_a_bar_and_prints_the_summary(
    scraped: Path, db_url: str, tmp_path: Path
) -> None:
    """On a terminal the import shows rich's live bar (snapshots, rate, versions found),
    gives the cursor back, and ends with the same summary line as into a pipe."""
    from .test_progress import run_on_terminal

    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    env.update(REDLINE_DB=db_url, TERM="xterm-256color")
    args = [
        "import", "git", str(scraped), "--path", "data.json", "--url",
        "https://news.example/api/latest.json", "--kind", "listing", "--items", "articles",
    ]  # fmt: skip
    code, drawn = run_on_terminal(args, env, tmp_path / "stderr.log")
    assert code == 0, (tmp_path / "stderr.log").read_text()
    screen = re.sub(r"\x1b\[[0-9;]*m", "", drawn)

    # The bar's count out of the total, known once `git log` has run (issue 15: no total).
    assert "importing" in screen and "4/4 snapshots" in screen
    assert "6 versions found" in screen
    assert "\x1b[?25l" in drawn and "\x1b[?25h" in drawn  # cursor hidden, then given back
    assert "4 recorded now, 0 already imported, 0 unreadable; 6 new versions" in screen
