"""The plans of the SQL a query function sent: EXPLAIN QUERY PLAN on SQLite, EXPLAIN
ANALYZE on PostgreSQL (and, when the timed calls used one, PostgreSQL's generic plan), each as
its full text and a one-line summary, with notes on what a hot query should not do (a full
scan of a big table, many rows read, a large sort). For bench_queries.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from psycopg import sql as pgsql
from sqlalchemy.engine import Connection, Engine

BIG_TABLES = {"version", "change", "item", "itemalias", "check"}  # a full scan of one is flagged
# What psycopg prepared on a connection, and how often PostgreSQL planned each generically.
PREPARED_STATS = "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"


def placeholders_as(statement: str, mark: str) -> str:
    return re.sub(r"%\(\w+\)s|\$\d+", mark, statement)


def generic_plans_used(prepared: list[Any], statement: str) -> tuple[int, int] | None:
    """(generic, custom) plan counts of the prepared statement sending this SQL, if any."""
    wanted = placeholders_as(statement, "?")
    for text_, generic, custom in prepared:
        if placeholders_as(text_, "?") == wanted:
            return int(generic), int(custom)
    return None


def explain(
    engine: Engine, statements: list[tuple[str, Any]], prepared: list[Any]
) -> tuple[list[str], str, list[str]]:
    """(full plan text per statement, one-line summary, notes such as full scans)."""
    plans, summaries, notes = [], [], []
    with engine.connect() as connection:
        for statement, parameters in statements:
            if engine.dialect.name == "sqlite":
                plan, summary, found = explain_sqlite(connection, statement, parameters)
            else:
                plan, summary, found = explain_postgresql(connection, statement, parameters)
                counts = generic_plans_used(prepared, statement)
                if counts and counts[0]:
                    # The timed calls ran the generic plan: that is the one to judge.
                    generic, g_summary, g_found = explain_generic(connection, statement, parameters)
                    plan += f"\n\nGeneric plan ({counts[0]} of the timed calls used it):\n{generic}"
                    if g_summary != summary:
                        summary = f"generic: {g_summary} (with the values: {summary})"
                    found = g_found + [n for n in found if n not in g_found]
                    found.append(f"generic plan in {counts[0]} of {sum(counts)} calls")
            plans.append(plan)
            summaries.append(summary)
            notes.extend(found)
        connection.rollback()
    return plans, " ‖ ".join(summaries), notes


def explain_sqlite(
    connection: Connection, statement: str, parameters: Any
) -> tuple[str, str, list[str]]:
    rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    depth: dict[int, int] = {0: -1}
    lines, details = [], []
    for node_id, parent, _, detail in rows:
        depth[node_id] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node_id] + detail)
        details.append(detail)
    notes = []
    sorted_all = any("USE TEMP B-TREE FOR ORDER BY" in d for d in details)
    for detail in details:
        match = re.match(r"SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?$", detail)
        if not match or match.group(1).strip('"') not in BIG_TABLES:
            continue
        if sorted_all or " LIMIT " not in statement:
            notes.append(f"⚠ full scan: {detail}")
        else:
            notes.append(f"{detail}: in key order, stops after LIMIT matches")
    return "\n".join(lines), "; ".join(details), notes


def pg_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from pg_nodes(child)


def explain_postgresql(
    connection: Connection, statement: str, parameters: Any
) -> tuple[str, str, list[str]]:
    text_rows = connection.exec_driver_sql(
        f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters
    ).all()
    tree = connection.exec_driver_sql(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
    ).scalar()
    summary, notes = summarize_postgresql(tree[0]["Plan"])
    return "\n".join(row[0] for row in text_rows), summary, notes


def explain_generic(
    connection: Connection, statement: str, parameters: dict[str, Any]
) -> tuple[str, str, list[str]]:
    """The plan PostgreSQL makes for the statement prepared once for any values."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    body = re.sub(r"%\((\w+)\)s", number, statement)
    driver = connection.connection.driver_connection
    values = ", ".join(pgsql.Literal(parameters[name]).as_string(driver) for name in names)
    connection.exec_driver_sql(f"PREPARE bench_generic AS {body}")
    try:
        connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        execute = f"EXECUTE bench_generic({values})"
        text_rows = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {execute}").all()
        tree = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {execute}").scalar()
    finally:
        connection.exec_driver_sql("RESET plan_cache_mode")
        connection.exec_driver_sql("DEALLOCATE bench_generic")
    summary, notes = summarize_postgresql(tree[0]["Plan"])
    return "\n".join(row[0] for row in text_rows), summary, notes


def summarize_postgresql(root: dict[str, Any]) -> tuple[str, list[str]]:
    """One line: the plan's nodes, and how many rows of big tables its scans went through."""
    labels, notes = [], []
    read = 0
    for node in pg_nodes(root):
        kind = node["Node Type"]
        if kind in ("Index Scan", "Index Only Scan") and node.get("Scan Direction") == "Backward":
            kind += " Backward"
        label = kind
        if "Index Name" in node:
            label += f" using {node['Index Name']}"
        if "Relation Name" in node:
            label += f" on {node['Relation Name']}"
        loops = node.get("Actual Loops", 1)
        if node.get("Rows Removed by Filter"):
            label += f" (filter removed {node['Rows Removed by Filter'] * loops:,})"
        if kind not in ("Limit", "Result"):
            labels.append(label)
        relation = node.get("Relation Name")
        if relation in BIG_TABLES:
            read += (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
            if kind == "Seq Scan":
                notes.append(f"⚠ full scan: Seq Scan on {relation}")
        if kind == "Sort" and node.get("Actual Rows", 0) > 10_000:
            notes.append(f"⚠ sorts {node['Actual Rows']:,} rows")
    if read > 10_000:
        notes.append(f"⚠ reads {read:,} rows of big tables")
    return " → ".join(labels) + f" [{read:,} rows read]", notes
