"""gridmap's one settings object (environment variables with the ``GRIDMAP_`` prefix)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    """Where gridmap keeps its private PostGIS cluster and caches.

    ``~/.local/share/gridmap`` for a normal user.  As root the home is ``/var/lib/gridmap``:
    the cluster must run as the ``postgres`` system user, which cannot enter ``/root``.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/gridmap")
    return Path.home() / ".local" / "share" / "gridmap"


class Settings(BaseSettings):
    """Every setting gridmap reads; each is ``GRIDMAP_<NAME>`` in the environment or ``.env``."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=default_home, description="Data directory (embedded cluster, caches).")
    database_url: str | None = Field(
        default=None,
        description="External PostGIS (postgresql://...) as the application's least-privilege role. "
                    "Unset: gridmap runs its own embedded cluster under home (as its role gridmap_app).",
    )
    owner_database_url: str | None = Field(
        default=None,
        description="The same database as the role that owns gridmap's schema: migrations and admin commands "
                    "(db backup/restore, region drop). Unset: the embedded cluster's gridmap_owner, or "
                    "GRIDMAP_DATABASE_URL itself for an external database.",
    )
    pg_bin: Path | None = Field(default=None, description="PostgreSQL binaries; found automatically when unset.")
    pg_port: int | None = Field(default=None, description="Port for the embedded cluster; a free one when unset.")

    host: str = "127.0.0.1"
    port: int = 8000

    region_code: str = Field(default="320281", description="Default 6-digit county code for imports that carry none.")
    language: Literal["zh", "en"] = Field(default="zh", description="Language of pages and messages.")
    timezone: str = Field(
        default="Asia/Shanghai",
        description="IANA time zone for times written without a UTC offset (CSV/JSON intake, CLI and query dates).",
    )

    tile_url: str | None = Field(
        default=None,
        description="Basemap tile URL template ({z}/{x}/{y}); none by default so pages work offline.",
    )
    tile_attribution: str = ""

    max_upload_mb: float = Field(default=200.0, description="Largest accepted upload or request body, MiB.")
    max_bulk_incidents: int = Field(default=50_000, description="Most incidents one bulk request may carry.")
    heatmap_max_points: int = Field(
        default=20_000, description="Above this many incidents a heatmap shows server-side aggregates, not points."
    )

    walk_speed_kmh: float = 5.0
    bike_speed_kmh: float = 15.0
    minutes: float = Field(default=8.0, description="Default time budget of the service circle, minutes.")
    max_snap_m: float = Field(default=300.0, description="Farther than this from any street a point is unreachable.")
    grid_overlap_m2: float = Field(
        default=1.0, ge=0,
        description="Grids of one community may overlap by at most this much (m2, in the data's metric CRS); "
                    "gaps between them larger than it are reported as warnings.")

    # siting (api/siting)
    siting_sync_candidates: int = Field(
        default=2000, ge=0,
        description="POST /siting answers at once up to this many candidate sites (or a cached matrix); "
                    "a larger question runs as a job.")
    siting_workers: int = Field(default=1, ge=1, description="Siting jobs solved at once (the app's thread pool).")
    # access control (api/auth): token signing, lifetimes, the page session cookie
    auth_secret: str | None = Field(
        default=None, repr=False,
        description="Secret that signs tokens and session cookies; unset: generated once into <home>/auth_secret.")
    token_minutes: float = Field(default=480.0, gt=0, description="Lifetime of a login token or session, minutes.")
    cookie_secure: bool = Field(
        default=False, description="Mark the session cookie Secure (set when gridmap is served over HTTPS).")
    # plans (api.plans): grid redraws
    plan_workers: int = Field(default=2, ge=1, description="Worker processes a grid redraw uses (communities in parallel).")
    plan_live_max: int = Field(default=16, ge=1, description="Plans kept live in memory for editing (moves).")
    plan_sync_communities: int = Field(
        default=1, ge=0,
        description="POST /plans redraws at once up to this many communities; more (a town, the county) run as a job.")
    # serving (gridmap serve)
    workers: int | None = Field(
        default=None, ge=1,
        description="Worker processes of gridmap serve (unset: 1, or one per CPU with --production); each has "
                    "its own database pool and coverage caches.")
    # --- hardening (issue 16): bounded waits, hosts, rate limits ---
    statement_timeout_s: float = Field(
        default=60.0, gt=0,
        description="Longest a request's SQL statement may run, seconds (the session's statement_timeout); "
                    "longer is cancelled and answered 503.")
    pool_timeout_s: float = Field(
        default=10.0, gt=0,
        description="Longest a request waits for a free pooled database connection, seconds (then 503); "
                    "connecting itself is bounded by libpq's connect_timeout, 2 s.")

    allowed_hosts: str = Field(
        default="",
        description="Host names this server answers for besides loopback (localhost, 127.0.0.1, ::1), "
                    "comma-separated; *.example.org matches subdomains, * any (not advised).")
    write_rate_per_s: float = Field(
        default=50.0, ge=0, description="Writes (POST/PUT/PATCH/DELETE) per second one client may send on average "
                                        "(a token bucket per address, per process); 0: no limit.")
    write_burst: int = Field(default=500, ge=1, description="Writes one client may send at once before the rate applies.")

    @property
    def allowed_host_names(self) -> tuple[str, ...]:
        return tuple(h.strip() for h in self.allowed_hosts.split(",") if h.strip())

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Asia/Shanghai or UTC)") from None
        return v


@lru_cache
def get_settings() -> Settings:
    return Settings()
