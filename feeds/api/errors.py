"""422s, invalid parameters or body, answered with a one-line `detail` like every other
error; FastAPI's list of problems stays under `errors`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from tracker.words import plural

PLACES = {"path": "path parameter", "query": "query parameter", "header": "header"}


def _problem_line(problem: dict[str, Any]) -> str:
    """ "query parameter limit: Input should be less than or equal to 200"."""
    where, *path = problem.get("loc") or ("request",)
    message = " ".join(str(problem.get("msg", "invalid")).split())
    if where == "body":
        if not path or problem.get("type") == "json_invalid":
            return f"request body: {message}"
        return f"body field {'.'.join(str(part) for part in path)}: {message}"
    return f"{PLACES.get(str(where), str(where))} {'.'.join(map(str, path))}: {message}".strip()


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 with `detail` one line naming the field and the problem (as every
    other error's detail is); its list of problems stays under `errors`."""
    assert isinstance(error, RequestValidationError)
    problems = list(error.errors())
    detail = _problem_line(problems[0]) if problems else "invalid request"
    if len(problems) > 1:
        detail += f" (and {plural(len(problems) - 1, 'more problem')})"
    # Without the rejected input FastAPI adds: it can be a whole body, and needs no echo.
    errors = [{key: p[key] for key in ("type", "loc", "msg") if key in p} for p in problems]
    return JSONResponse({"detail": detail, "errors": jsonable_encoder(errors)}, status_code=422)


VALIDATION_PROBLEM = {
    "title": "HTTPValidationError",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "title": "Detail", "description": "what is wrong, one line"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
    },
}


def install_validation_errors(app: FastAPI) -> None:
    """Answer 422s with validation_error, and say so in /openapi.json."""
    app.add_exception_handler(RequestValidationError, validation_error)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached on the app: the change below is made once
        schemas = schema.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in schemas:
            schemas["HTTPValidationError"] = VALIDATION_PROBLEM
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
