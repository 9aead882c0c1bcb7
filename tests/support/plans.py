"""The plan tests' world: the 3,000-household sample and a plan drawn for its first community."""

from __future__ import annotations

from tests.support.db import truncate
from tests.support.sample import load_sample


def plan_world(engine, settings, seed: int = 1) -> dict:
    """Empty the database, load ``load_sample(engine, 3000, seed)`` and create a plan (through the
    plans service, everywhere in scope) for its first community by code.  Returns ``community``,
    ``plan`` (its id) and ``answer`` (what ``create_plans`` answered)."""
    from api.jurisdiction import EVERYWHERE
    from api.plans import PlanSpec, create_plans

    truncate(engine)
    layers = load_sample(engine, 3000, seed=seed)
    comm = sorted(layers["areas"].query("level == 'community'")["code"])[0]
    _, ans, _ = create_plans(engine, settings, EVERYWHERE, PlanSpec(community=comm))
    return {"community": comm, "plan": ans["plans"][0]["id"], "answer": ans}
