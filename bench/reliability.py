"""The reliability report: every hostile input the tests try, and the verdict.

Runs the hostile-input tests (tests/test_hostile_*.py); each test's name says the
input and what must happen (its assertions say exactly), and its parameters name the
variant and the database. Prints the table, and with --write replaces the
"Reliability: hostile input" section of bench/RESULTS.md.

    .venv/bin/python bench/reliability.py [--write]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.paths import ROOT  # noqa: E402
from bench.harness.results import machine_lines, write_section  # noqa: E402

HEADING = "## Reliability: hostile input"
TEST_FILES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_hostile_*.py"))


def run_tests(junit: Path) -> int:
    env = dict(os.environ)
    command = [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider"]
    done = subprocess.run([*command, f"--junitxml={junit}", *TEST_FILES], cwd=ROOT, env=env)
    return done.returncode


def verdicts(junit: Path) -> dict[str, str]:
    """Test node id (file::name[params]) -> passed / failed / skipped, in run order."""
    found: dict[str, str] = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        node = f"{module}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            found[node] = "failed"
        elif case.find("skipped") is not None:
            found[node] = "skipped"
        else:
            found[node] = "passed"
    return found


def describe(node: str) -> str:
    """test_a_gzip_bomb_is_cut[postgresql] -> "a gzip bomb is cut (postgresql)"."""
    name = node.split("::", 1)[1].removeprefix("test_")
    words, _, params = name.partition("[")
    text = words.replace("_", " ")
    return f"{text} ({params.rstrip(']')})" if params else text


def table(results: dict[str, str]) -> list[str]:
    lines = ["| input, and what must happen | test | verdict |", "| --- | --- | --- |"]
    for node, verdict in results.items():
        module = node.split("::", 1)[0].removeprefix("tests/")
        lines.append(f"| {describe(node)} | {module} | {verdict} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="replace the RESULTS.md section")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        junit = Path(folder) / "junit.xml"
        status = run_tests(junit)
        results = verdicts(junit)
    failed = sorted(node for node, verdict in results.items() if verdict == "failed")
    body = [
        HEADING,
        "",
        *machine_lines(),
        "- Command: `.venv/bin/python bench/reliability.py --write`, which runs "
        + ", ".join(TEST_FILES),
        f"- Tests: {sum(v == 'passed' for v in results.values())} passed, {len(failed)} failed, "
        f"{sum(v == 'skipped' for v in results.values())} skipped",
        "",
        "Each row is one test: a hostile input served from 127.0.0.1 or handed to an "
        "extractor, and what must happen (a clear error or a capped, marked success; the check "
        "goes on; what was stored before is unchanged). The crash trials have their own "
        "section.",
        "",
        *table(results),
    ]
    if failed:
        body += ["", "Failed tests:", *[f"- {node}" for node in failed]]
    text = "\n".join(body) + "\n"
    print(text)
    if args.write:
        write_section(HEADING, text)
    return status


if __name__ == "__main__":
    sys.exit(main())
