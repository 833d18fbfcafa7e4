"""The two tools bench_poll.py times on a polling round: redline (`redline check`) and
urlwatch 2.29 (bench/.peers), each set up once for the page set, given a fresh state for
each run, run for one round (the whole command, timed) and its report read.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
from pathlib import Path

from bench.harness.paths import REDLINE
from bench.harness.peers import peer_command
from bench.harness.processes import clean_env
from bench.harness.timing import run_timed

LOOPBACK = "127.0.0.0/8"
FIRST, EDITED, UNCHANGED = "first sight", "5% edited", "unchanged"
ROUNDS = (FIRST, EDITED, UNCHANGED)


# --- the tools --------------------------------------------------------------------------------


class Tool:
    """A polling tool: prepared once for the page set, then a fresh state for each run."""

    name: str
    settings: str  # for RESULTS.md: which settings it ran with
    home: Path | None = None  # HOME for its process, if not the user's

    def fresh(self) -> None:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def idle_command(self) -> list[str]:
        """The same command with nothing to check: its start-up and exit."""
        raise NotImplementedError

    def idle(self) -> float:
        command = self.idle_command()
        seconds, _ = run_timed(command, capture_output=True, env=_env(self.home), check=True)
        return seconds

    def time_passes(self) -> None:
        """Between two rounds: whatever makes every page due again (nothing by default)."""

    def parse(self, output: str) -> dict[str, int]:
        raise NotImplementedError

    def expected(self, round_name: str, pages: int, edited: int) -> dict[str, int]:
        raise NotImplementedError

    def round(self, log: Path) -> tuple[float, dict[str, int]]:
        """Run one round; its wall time (the whole command) and what it reported."""
        with log.open("w") as out:
            seconds, done = run_timed(
                self.command(), stdout=out, stderr=subprocess.STDOUT, env=_env(self.home)
            )
        output = log.read_text(errors="replace")
        if done.returncode != 0:
            raise SystemExit(f"{self.name} exited {done.returncode}; its output is in {log}")
        return seconds, self.parse(output)


class Redline(Tool):
    name = "redline"

    def __init__(self, work: Path, urls: list[str]) -> None:
        self.template = work / "redline-template.db"
        self.db = work / "redline.db"
        self.empty = work / "redline-empty.db"
        self.config = work / "redline.toml"
        # urlwatch has no politeness (10 threads, no per-host limit or delay); redline's
        # defaults (1 request at a time per host, 1 s apart) would make a round of 100
        # pages a site last 100 s by design. Like for like: its politeness set to match.
        self.config.write_text('[daemon]\nconcurrency = 10\nper_host = 10\nhost_delay = "0s"\n')
        self.settings = (
            "`redline check` (one round over the due sources) on a SQLite database with "
            "politeness matched to urlwatch's, which has none (10 threads, no per-host limit "
            "or delay): a redline.toml with `[daemon] concurrency = 10`, `per_host = 10`, "
            '`host_delay = "0s"` (redline\'s defaults, 1 request at a time per host and 1 s '
            "between two, would make a round of 100 pages a site take 100 s by design); "
            f"REDLINE_ALLOW_NETWORKS={LOOPBACK} so that it may fetch from loopback; the "
            "sources were added beforehand with kind `auto`, as `redline add URL` leaves them. "
            "Before the timed 5%-edited and unchanged rounds, every source's next check time "
            "is moved into the past, as if the 15 minutes until a young item page's next "
            "check had passed"
        )
        _redline_template(self.template, urls)
        _redline_template(self.empty, [])

    def fresh(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.db}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.template, self.db)

    def command(self) -> list[str]:
        return [str(REDLINE), "--config", str(self.config), "--db", f"sqlite:///{self.db}", "check"]

    def idle_command(self) -> list[str]:
        return [
            str(REDLINE),
            "--config",
            str(self.config),
            "--db",
            f"sqlite:///{self.empty}",
            "check",
        ]

    def time_passes(self) -> None:
        """Every source falls due, as it would 15 minutes after a round (a young item
        page's interval), so that the next `redline check` checks them all."""
        from sqlalchemy import update

        from storage import Source, make_engine, transaction, utcnow

        engine = make_engine(f"sqlite:///{self.db}")
        with transaction(engine) as session:
            due = utcnow() - datetime.timedelta(minutes=1)
            session.exec(update(Source).values(next_check_at=due))  # type: ignore[call-overload]
        engine.dispose()

    def parse(self, output: str) -> dict[str, int]:
        # "checked 2000 sources: 100 changed, 1900 unchanged, 0 not modified, 0 errors; ..."
        summary = re.search(r"^checked (\d+) sources?: (.*?); (\d+) new versions?$", output, re.M)
        if summary is None:
            raise SystemExit(f"no summary line in redline's output:\n{output[-2000:]}")
        counts = {"checked": int(summary[1])}
        for count, what in re.findall(r"(\d+) ([a-z ]+?)(?:,|$)", summary[2]):
            counts[what.strip().replace(" ", "_")] = int(count)
        counts["new_versions"] = int(summary[3])
        return counts

    def expected(self, round_name: str, pages: int, edited: int) -> dict[str, int]:
        if round_name == FIRST:
            return {"checked": pages, "changed": pages, "errors": 0}
        if round_name == EDITED:
            return {
                "checked": pages,
                "changed": edited,
                "not_modified": pages - edited,
                "errors": 0,
            }
        return {"checked": pages, "changed": 0, "not_modified": pages, "errors": 0}


class Urlwatch(Tool):
    name = "urlwatch"

    def __init__(self, work: Path, urls: list[str]) -> None:
        self.script = peer_command("urlwatch")
        self.home = work / "urlwatch-home"  # HOME: nothing of the user's ~/.urlwatch is read
        self.home.mkdir()
        self.urls = work / "urls.yaml"
        self.config = work / "urlwatch.yaml"
        self.hooks = work / "hooks.py"  # not created: no hooks
        self.cache = work / "urlwatch-cache.db"
        self.urls.write_text("".join(f"---\nurl: {url}\n" for url in urls))
        self.no_urls = work / "no-urls.yaml"
        self.no_urls.write_text("")
        self.settings = (
            "`urlwatch --urls F --config F --cache F --hooks F` (no hooks file): its default "
            "configuration, as urlwatch writes it on its first start (of the reporters only "
            "stdout is enabled; its output goes to a file), one `url:` job per page, no "
            "filters; it fetches with 10 threads (fixed in urlwatch 2.29) and sends "
            "If-None-Match with the ETag it stored and If-Modified-Since with its last "
            "check's time"
        )
        # urlwatch writes its default configuration on the first start; let it, untimed.
        subprocess.run([*self.command(), "--list"], env=_env(self.home), capture_output=True)
        if not self.config.exists():
            raise SystemExit("urlwatch did not write its default configuration")

    def fresh(self) -> None:
        self.cache.unlink(missing_ok=True)

    def idle_command(self) -> list[str]:
        command = self.command()
        command[command.index(str(self.urls))] = str(self.no_urls)
        return command

    def command(self) -> list[str]:
        return [
            str(self.script),
            *("--urls", str(self.urls), "--config", str(self.config)),
            *("--cache", str(self.cache), "--hooks", str(self.hooks)),
        ]

    def parse(self, output: str) -> dict[str, int]:
        # The report's summary: "01. NEW: http://…", "02. CHANGED: http://…", "ERROR: …".
        counts = {"new": 0, "changed": 0, "errors": 0}
        for what, key in (("NEW", "new"), ("CHANGED", "changed"), ("ERROR", "errors")):
            counts[key] = len(re.findall(rf"^\s*\d+\. {what}: ", output, re.M))
        return counts

    def expected(self, round_name: str, pages: int, edited: int) -> dict[str, int]:
        if round_name == FIRST:
            return {"new": pages, "changed": 0, "errors": 0}
        if round_name == EDITED:
            return {"new": 0, "changed": edited, "errors": 0}
        return {"new": 0, "changed": 0, "errors": 0}


def _env(home: Path | None = None) -> dict[str, str]:
    env = {key: value for key, value in clean_env().items() if "proxy" not in key.lower()}
    env["REDLINE_ALLOW_NETWORKS"] = LOOPBACK
    if home is not None:
        env["HOME"] = str(home)
    return env


def _redline_template(path: Path, urls: list[str]) -> None:
    """A database with the schema and one source per URL, as `redline add URL` leaves it."""
    os.environ["REDLINE_ALLOW_NETWORKS"] = LOOPBACK  # add_source refuses private addresses
    from storage import ensure_schema, make_engine, transaction
    from tracker.run.sources import add_source

    engine = make_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    with transaction(engine) as session:
        for url in urls:
            add_source(session, url)
    engine.dispose()
