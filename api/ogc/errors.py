"""tipg's, CQL2's and asyncpg's errors as gridmap's (``api.errors``), rendered once as problem+json.

A bad request (an unknown property, a malformed ``filter``, ``datetime`` or ``limit``, a filter
comparing a text with a number) is a 422 saying what is wrong; a missing item a 404; a query the
database cancelled (``statement_timeout``) or could not run for want of a connection a 503.
"""

from __future__ import annotations

import asyncpg
import cql2
from fastapi import FastAPI, Request
from tipg import errors as tipg_errors

from api.errors import DatabaseUnavailable, GridmapError, NotFound, ValidationFailed, respond, status_of

__all__ = ["translate", "install"]

_CALLER_FAULTS = (tipg_errors.InvalidBBox, tipg_errors.InvalidDatetime, tipg_errors.InvalidLimit,
                  tipg_errors.InvalidPropertyName, tipg_errors.InvalidGeometryColumnName,
                  tipg_errors.InvalidDatetimeColumnName, tipg_errors.MissingDatetimeColumn,
                  tipg_errors.MissingFunctionParameter, tipg_errors.NoPrimaryKey)


def translate(exc: Exception) -> GridmapError:
    """The gridmap error meaning the same as ``exc``."""
    if isinstance(exc, tipg_errors.NotFound):
        return NotFound(str(exc))
    if isinstance(exc, _CALLER_FAULTS):
        return ValidationFailed(str(exc))
    if isinstance(exc, (cql2.ParseError, cql2.ValidationError, ValueError)):
        return ValidationFailed(f"filter: {str(exc).splitlines()[0] if str(exc) else 'not a CQL2 expression'}")
    if isinstance(exc, asyncpg.exceptions.QueryCanceledError):
        return DatabaseUnavailable("The request took longer than the database allows (GRIDMAP_STATEMENT_TIMEOUT_S).")
    if isinstance(exc, (asyncpg.exceptions.DataError, asyncpg.exceptions.SyntaxOrAccessError)):
        # e.g. households > 'many', or a function the filter names that does not exist
        return ValidationFailed(f"The filter cannot be applied to this collection: {str(exc).splitlines()[0]}")
    if isinstance(exc, (OSError, asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.InterfaceError)):
        return DatabaseUnavailable("The database cannot be reached right now; retry in a moment.")
    return GridmapError(str(exc))


def install(app: FastAPI) -> None:
    async def handler(request: Request, exc: Exception):
        err = translate(exc)
        return respond(request, status_of(err), err.slug, err.title, err.detail, err.problems, **err.extra)

    for cls in (tipg_errors.TiPgError, cql2.ParseError, cql2.ValidationError, asyncpg.PostgresError,
                asyncpg.exceptions.InterfaceError):
        app.add_exception_handler(cls, handler)
