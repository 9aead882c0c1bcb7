"""The coverage limits are written once (api.limits): the engine agrees, every --help and OpenAPI
description states them, and both media enforce them naming the option or field."""

from __future__ import annotations

from tests.support.cli import run_cli


def test_limits_are_the_engines_and_every_help_states_them(pg_url, monkeypatch):
    from api.app import create_app
    from api.limits import MAX_BREAKS, MAX_MINUTES
    from geo.service_area import MAX_BREAKS as ENGINE_MAX_BREAKS

    assert MAX_BREAKS == ENGINE_MAX_BREAKS  # written once for the api, the same as the engine's own
    res = run_cli(pg_url, monkeypatch, ["coverage", "--help"])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.replace("│", " ").split())  # rich wraps the help inside a box
    assert f"1-{MAX_BREAKS} breaks, each ≤ {MAX_MINUTES:g} min" in flat
    assert f"0 < minutes ≤ {MAX_MINUTES:g}" in flat
    spec = create_app(migrate=False).openapi()
    for path in ("/coverage", "/coverage/areas", "/stations/{station_id}/reach"):
        desc = {p["name"]: p.get("description", "") for p in spec["paths"][path]["get"]["parameters"]}
        assert f"1-{MAX_BREAKS} breaks, each ≤ {MAX_MINUTES:g} min" in desc["breaks"], path
        assert f"≤ {MAX_MINUTES:g}" in desc["minutes"], path
    # and the limits are enforced where they are stated: 422 naming the field, exit 2 naming the option
    res = run_cli(pg_url, monkeypatch, ["coverage", "--breaks", ",".join(str(b) for b in range(1, MAX_BREAKS + 2))])
    assert res.exit_code == 2 and "--breaks" in res.output, res.output
    res = run_cli(pg_url, monkeypatch, ["coverage", "--minutes", str(MAX_MINUTES + 1)])
    assert res.exit_code == 2 and "--minutes" in res.output, res.output


def test_http_refuses_breaks_beyond_the_limit_naming_the_field(client):
    from api.limits import MAX_BREAKS, MAX_MINUTES

    too_many = ",".join(str(b) for b in range(1, MAX_BREAKS + 2))
    for url in (f"/coverage?breaks={too_many}", f"/coverage/areas?breaks={too_many}",
                f"/coverage/areas?breaks=5,{MAX_MINUTES + 1:g}", "/stations/1/reach?breaks=x"):
        r = client.get(url)
        assert r.status_code == 422, (url, r.status_code, r.text)
        assert [p["field"] for p in r.json()["errors"]] == ["breaks"], url
    r = client.get(f"/coverage?minutes={MAX_MINUTES + 1:g}")
    assert r.status_code == 422 and "minutes" in r.text
