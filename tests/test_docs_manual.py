"""The manual (docs/*.md and README.md) stays true to the code, as sqlite-utils and
git-history test theirs: every command, option, HTTP route and redline.toml key is
documented; the documented command lines parse with the real parser, the JSON and TOML
shown parse (whole configurations through redline's own loader); and `mkdocs build
--strict` builds the site (issue 21)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from starlette.routing import BaseRoute

from tests.conftest import run_main
from tests.tools import require_package
from tracker.cli.main import build_parser
from tracker.run.config import config_keys, load_config

ROOT = Path(__file__).resolve().parent.parent
PAGES = {path.name: path.read_text(encoding="utf-8") for path in sorted(ROOT.glob("docs/*.md"))}
README = (ROOT / "README.md").read_text(encoding="utf-8")
MANUAL = "\n".join([README, *PAGES.values()])
COMMANDS = PAGES["commands.md"]


# -- what the markdown shows --------------------------------------------------------


@dataclass
class Block:
    page: str
    info: str  # the fence's info string: "", "toml", "python", ...
    text: str


def code_blocks() -> Iterator[Block]:
    """Every fenced code block of the manual (README.md included)."""
    for page, text in [("README.md", README), *PAGES.items()]:
        for match in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL):
            yield Block(page, match.group(1), match.group(2))


def prose(text: str) -> str:
    """The text without its fenced code blocks."""
    return re.sub(r"^```.*?^```$", "", text, flags=re.MULTILINE | re.DOTALL)


def code_spans(text: str) -> list[str]:
    """The inline code spans of the text, outside code blocks."""
    return re.findall(r"`([^`\n]+)`", prose(text))


def sections(text: str) -> dict[str, str]:
    """The page's `## ` sections by heading (its text before the first: under "")."""
    parts = re.split(r"^## (.*)$", prose(text), flags=re.MULTILINE)
    found = {"": parts[0]}
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        found[heading] = heading + "\n" + body
    return found


# -- the CLI ------------------------------------------------------------------------


def verbs(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command's words and parser, the top-level parser first as ()."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from verbs(sub, (*path, name))


def sub_verbs(parser: argparse.ArgumentParser) -> tuple[str, ...]:
    """The words a verb takes as its first argument: `db status`, `db upgrade`, ..."""
    for action in parser._actions:
        if not action.option_strings and action.choices and action.dest != "command":
            return tuple(str(choice) for choice in action.choices)
    return ()


def options(parser: argparse.ArgumentParser) -> list[str]:
    return [
        option
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction)
        for option in action.option_strings
    ]


def verb_text(words: tuple[str, ...]) -> str:
    """What commands.md says of a verb: the sections whose heading names it (for a
    sub-verb, its verb's), or the page's opening for the options every command takes."""
    if not words:
        return sections(COMMANDS)[""]
    named = [
        body
        for heading, body in sections(COMMANDS).items()
        if f"redline {words[0]} " in heading + " "
    ]
    return "\n".join(named)


def test_every_command_is_documented() -> None:
    spans = code_spans(MANUAL) + [
        heading.strip("`") for heading in re.findall(r"^#+ (.*)$", prose(MANUAL), re.MULTILINE)
    ]
    missing = []
    for words, parser in verbs(build_parser()):
        if not words:
            continue
        phrases = [" ".join(words)] + [f"{' '.join(words)} {sub}" for sub in sub_verbs(parser)]
        for phrase in phrases:
            parent, _, last = phrase.rpartition(" ")
            # `redline notify add ... | list [--json] | remove ID`: a sub-verb may be one of
            # several alternatives after its verb, in one code span.
            said = any(
                span.startswith(f"redline {parent} " if parent else f"redline {last}")
                and re.search(rf"(?<![\w-]){re.escape(last)}(?![\w-])", span)
                for span in spans
            )
            if not said:
                missing.append(f"redline {phrase}")
    assert missing == [], f"commands missing from the manual: {missing}"


def test_every_option_is_documented_under_its_command() -> None:
    missing = []
    checked = 0
    for words, parser in verbs(build_parser()):
        text = verb_text(words)
        for option in options(parser):
            checked += 1
            if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text):
                missing.append(f"redline {' '.join(words)} {option}".replace("  ", " "))
    assert checked > 90
    assert missing == [], f"options missing from their command's section: {missing}"


def command_lines() -> Iterator[tuple[str, str]]:
    """Every `redline ...` command line of the manual's shell blocks (after a `$ ` prompt
    where the block has prompts, else any line; continued lines joined; an environment
    assignment or a path to redline before it, a pipe or a comment after it left out),
    with its page."""
    for block in code_blocks():
        if block.info not in ("", "sh", "console"):
            continue
        text = re.sub(r"\\\n\s*", " ", block.text)
        prompted = "$ " in text  # then the lines without a prompt are output
        for line in text.splitlines():
            if prompted and not line.startswith("$ "):
                continue
            line = line.removeprefix("$ ").strip()
            found = re.match(r"^(?:\w+=\S+ |sudo -u \w+ )*(?:\S*/)?redline (.*)$", line)
            if found:
                yield block.page, found.group(1)


def shell_words(command: str) -> list[str]:
    """The arguments of a command line up to a pipe, `&&` or a comment."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars="|&")
    lexer.whitespace_split = True
    words = []
    for word in lexer:
        if word in ("|", "&&", "||") or word.startswith("#"):
            break
        words.append(word)
    return words


def test_the_documented_command_lines_parse() -> None:
    parser = build_parser()
    lines = list(command_lines())
    assert len(lines) > 40
    refused = []
    for page, command in lines:
        words = shell_words(command)
        if words and words[0] == "--help":
            continue
        with contextlib.redirect_stderr(io.StringIO()) as said:
            try:
                parser.parse_args(words)
            except SystemExit:
                refused.append(f"{page}: redline {command}: {said.getvalue().strip()}")
    assert refused == []


# -- the HTTP service ---------------------------------------------------------------


def all_routes() -> Iterator[tuple[str, set[str]]]:
    """(path, methods) of every route of the app, including those of included routers
    (FastAPI 0.1xx nests each router's routes inside one route of the app)."""
    from feeds.app import create_app

    def walk(routes: list[BaseRoute], prefix: str) -> Iterator[tuple[str, set[str]]]:
        for route in routes:
            if hasattr(route, "original_router"):
                yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
            else:
                yield prefix + route.path, set(getattr(route, "methods", None) or ())

    app = create_app(create_engine("sqlite://"))
    yield from walk(app.routes, "")


def spelled(path: str) -> str:
    """A path with its parameters as `{}`: /items/{item_id:int} and /items/{id} alike."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def documented_paths() -> set[str]:
    """The paths the manual names in code: `/feeds/edits.atom`, `GET /api/items?q=`,
    `PATCH /api/sources/{id}` (with the method, for each method but GET)."""
    found = set()
    for span in code_spans(MANUAL):
        match = re.match(r"^(?:(GET|HEAD|POST|PUT|PATCH|DELETE) )?(/[^\s?`]*)", span)
        if match:
            method, path = match.groups()
            found.add(f"{method or 'GET'} {spelled(path)}")
    return found


def test_every_route_is_documented() -> None:
    documented = documented_paths()
    missing = []
    routes = list(all_routes())
    for path, methods in routes:
        # Swagger UI's own files under /docs (its script and assets) are what the
        # documented /docs page loads, not a route of their own.
        if path.startswith("/docs/"):
            continue
        for method in methods - {"HEAD"} or {"GET"}:
            if f"{method} {spelled(path)}" not in documented:
                missing.append(f"{method} {path}")
    assert len(routes) > 25
    assert missing == [], f"routes missing from the manual: {sorted(set(missing))}"


# -- the configuration --------------------------------------------------------------


def test_every_configuration_key_is_documented() -> None:
    """A key of a table is named on a line that names the table (the table of
    configuration.md: `[daemon] concurrency`; `[[source]]` `url`, `kind`, ...)."""
    page = PAGES["configuration.md"]
    rows = [line for line in prose(page).splitlines() if line.startswith("|")]
    missing = []
    for table, keys in config_keys().items():
        for key in keys:
            if not table:
                said = re.search(rf"`{key}`|`\[{{1,2}}{key}\]{{1,2}}", page)
            else:
                header = table if table.startswith("[[") else f"[{table}]"
                said = any(
                    header in row and re.search(rf"`(?:{re.escape(header)} )?{key}`", row)
                    for row in rows
                )
            if not said:
                missing.append(f"{table} {key}".strip())
    assert missing == [], f"configuration keys missing from docs/configuration.md: {missing}"


def test_the_key_lists_name_what_the_code_reads() -> None:
    """The lists config_keys() gives, which the loader holds every table to (a stranger
    is a one-line error), hold every key the code reads: a key read but not listed
    could never be set."""
    keys = config_keys()
    code = (ROOT / "tracker" / "run" / "config.py").read_text(encoding="utf-8")
    loader = code.split("def load_config", 1)[1].split("\ndef ", 1)[0]
    read = {
        "": re.findall(r'\bdata(?:\.get\(|\[)"(\w+)"', loader),
        "database": re.findall(r'\bdatabase\.get\("(\w+)"', loader)
        + re.findall(r'database, "(\w+)"', loader),
        "feed": re.findall(r'\bfeed\.get\("(\w+)"', loader),
        "[[source]]": re.findall(r'\bentry(?:\.get\(|\[)"(\w+)"', loader),
        "serve": [
            key
            for path in (ROOT / "tracker").rglob("*.py")
            for key in re.findall(r'\bserve\.get\("(\w+)"', path.read_text(encoding="utf-8"))
        ],
    }
    for table, found in read.items():
        assert found, table
        assert set(found) <= set(keys[table]), (table, set(found) - set(keys[table]))


# -- the examples -------------------------------------------------------------------


def test_the_toml_shown_loads_through_redlines_own_loader(tmp_path: Path) -> None:
    """Every ```toml block is a configuration redline reads as it is (as is the sample
    redline.toml the manual points to)."""
    blocks = [block for block in code_blocks() if block.info == "toml"]
    assert len(blocks) >= 3
    for number, block in enumerate(blocks):
        tomllib.loads(block.text)
        path = tmp_path / f"{number}.toml"
        path.write_text(block.text, encoding="utf-8")
        load_config(path)
    load_config(ROOT / "redline.toml")


def json_examples() -> Iterator[tuple[str, str]]:
    """The JSON the manual shows: ```json blocks, the output of a shell example that
    starts with { or [ (up to the next prompt or blank line), and curl's -d bodies."""
    for block in code_blocks():
        if block.info == "json":
            yield block.page, block.text
        if block.info:
            continue
        for chunk in re.split(r"^(?:\$ .*|)\n", block.text, flags=re.MULTILINE):
            if chunk.startswith(("{", "[")) and not chunk.startswith("[["):
                yield block.page, chunk
        for line in re.sub(r"\\\n\s*", " ", block.text).splitlines():
            if line.lstrip("$ ").startswith("curl "):
                words = shlex.split(line.lstrip("$ "))
                yield from ((block.page, words[i + 1]) for i, w in enumerate(words) if w == "-d")


def test_the_json_shown_parses() -> None:
    """Whole JSON parses; a document shortened with "..." or "…" is let be, but only
    when it is shortened, and most are not."""
    parsed, shortened, broken = 0, 0, []
    for page, text in json_examples():
        try:
            json.loads(text)
            parsed += 1
        except json.JSONDecodeError as error:
            if "..." in text or "…" in text:
                shortened += 1
            else:
                broken.append(f"{page}: {error}: {text[:80]}")
    assert broken == []
    assert parsed >= 5, (parsed, shortened)


# -- the site -----------------------------------------------------------------------


def test_the_manual_builds_with_mkdocs_strict(tmp_path: Path) -> None:
    """`make docs`, into a temporary folder: a broken link or anchor between pages, or a
    page missing from the nav, fails the build (mkdocs.yml's validation, --strict)."""
    require_package("mkdocs", "building the manual (make docs)")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # no end-of-life banner
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert (tmp_path / "commands" / "index.html").exists()
    assert (tmp_path / "architecture" / "index.html").exists()


def test_every_page_is_in_the_nav_and_linked_from_the_readme() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert sorted(set(re.findall(r"^  - [^:]+: (\S+\.md)$", nav, re.MULTILINE))) == sorted(PAGES)
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", README))
    assert sorted(linked) == sorted(PAGES)


# The documented command lines that run offline on an empty database: those that only
# read (or write files of their own), name no item or source that would have to exist,
# and read no configuration file of the example's machine.
OFFLINE = {
    ("items",),
    ("sources",),
    ("status",),
    ("export",),
    ("feed",),
    ("db",),
    ("notify", "list"),
}


def test_the_offline_command_lines_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each documented command line that needs no network, no item and no file of the
    example's machine runs as written and succeeds (on an empty SQLite database, through
    tracker.cli.main as the `cli` fixture runs it)."""
    runnable = [
        (page, words)
        for page, command in command_lines()
        if (words := shell_words(command))
        and (tuple(words[:1]) in OFFLINE or tuple(words[:2]) in OFFLINE)
        and "--config" not in words
        and not any(word.isdigit() for word in words)  # an item or source id
    ]
    assert len(runnable) >= 10
    env = {key: value for key, value in os.environ.items() if not key.startswith("REDLINE_")}
    env["REDLINE_DB"] = f"sqlite:///{tmp_path / 'manual.db'}"
    monkeypatch.chdir(tmp_path)
    failed = []
    for page, words in [("(first)", ["db", "upgrade"]), *runnable]:
        done = run_main(words, env)
        if done.code != 0:
            failed.append(f"{page}: redline {shlex.join(words)}: {done.stderr.strip()[-300:]}")
    assert failed == []
