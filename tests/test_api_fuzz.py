"""Schemathesis against the service's own /openapi.json: no request answers 5xx.

Every operation the schema lists gets requests that fit it and requests that do not
(wrong types, nulls, huge numbers, strings where objects go), with the write token on
each database, and without it on SQLite. The examples are derandomized, so a run is
reproducible, and bounded, so the whole file takes seconds.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from sqlalchemy.engine import Engine

from feeds.api import guards
from feeds.app import create_app
from feeds.settings import ServiceSettings

from .conftest import Site
from .test_errors import TOKEN, seed

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# Per operation and run; the three runs (with the token on each database, without it on
# SQLite) take about 15 s of CPU together.
EXAMPLES_PER_OPERATION = 25

# The examples are the same with and without the token (derandomized): without it, the
# same reads, and writes refused for the missing token before any database work. So that
# run is on SQLite only; the one with the token sends every request to both databases.
ANONYMOUS = pytest.param(None, id="anonymous", marks=pytest.mark.one_database)


@pytest.mark.slow  # over 2.5 s (--durations, 2026-12-07): left out by `make quick`
@pytest.mark.parametrize("token", [ANONYMOUS, pytest.param(TOKEN, id="with-token")])
def test_no_request_answers_a_server_error(
    site: Site, engine: Engine, token: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(site, engine)
    # Every write of the run is let through, so the bodies reach the handlers.
    monkeypatch.setattr(guards, "WRITES_PER_MINUTE", 10**9)
    app = create_app(engine, ServiceSettings(api_token=TOKEN))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    server_errors: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(cases)
        def send(case: schemathesis.Case) -> None:
            request = f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r}"
            try:
                response = case.call(headers=headers)
            except Exception as error:  # in-process, what a server answers with 500
                first_line = str(error).splitlines()[0][:200] if str(error) else ""
                server_errors.append(f"{type(error).__name__}: {first_line} <- {request}")
                return
            try:
                case.validate_response(response, checks=[not_a_server_error])
            except FailureGroup:
                server_errors.append(f"{response.status_code} <- {request}")

        send()
    assert not server_errors, "\n".join(server_errors)
