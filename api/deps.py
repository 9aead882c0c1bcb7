"""FastAPI dependencies shared by every route: settings, engine, the caller's jurisdiction."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import Engine

from api.jurisdiction import EVERYWHERE, Jurisdiction
from api.settings import Settings


def settings(request: Request) -> Settings:
    return request.app.state.settings


def engine(request: Request) -> Engine:
    return request.app.state.engine


def jurisdiction(request: Request) -> Jurisdiction:
    """The caller's jurisdiction.  No access control yet: everyone sees everywhere."""
    return EVERYWHERE
