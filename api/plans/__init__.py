"""Plans: stored grid redraws (drafts) that planners edit, compare, export and publish.

The service of ``/plans`` (:mod:`api.routes.plans`) and ``gridmap plan`` (:mod:`api.cli.plans`);
both only translate to and from these functions.  The engine is :mod:`geo.zoning`.

Modules, by meaning:

* :mod:`~api.plans.inputs` - what a redraw reads (communities, streets, dwellings, current grids)
  and the fingerprint of a community that makes a plan stale;
* :mod:`api.db.plans` (in the database layer, beside the other writes) - a plan's rows, rebuilding a live partition from them;
* :mod:`~api.plans.create` - :class:`PlanSpec` and :func:`create_plans` (one plan a region);
* :mod:`~api.plans.jobs` - large redraws as jobs (:class:`PlanJobs`, :func:`submit_plans`, :func:`plan_job`);
* :mod:`~api.plans.answers` - summaries, the list, one plan as GeoJSON, the diff against current grids;
* :mod:`~api.plans.live` - :class:`LivePlans` (partitions kept per app) and the edits: moves, splits along a line, locks, auto-balance (a proposal beside the draft);
* :mod:`~api.plans.publish` - publish (one transaction, history kept) and discard;
* :mod:`~api.plans.export` - GeoPackage / GeoJSON / CSV / xlsx of a plan's grids;
* :mod:`~api.plans.check` - validation of existing grids (``gridmap grids check``).
"""

from api.plans.answers import STATUSES, diff_plan, list_plans, show_plan, summary
from api.plans.create import PlanSpec, create_plans
from api.plans.jobs import PlanJobs
from api.plans.jobs import job_answer as plan_job
from api.plans.jobs import submit as submit_plans
from api.plans.live import LivePlans, balance_plan, lock_grids, merge_grid, move_units, split_grid
from api.plans.publish import discard_plan, publish_plan

__all__ = [
    "PlanSpec", "create_plans", "PlanJobs", "submit_plans", "plan_job",
    "STATUSES", "summary", "list_plans", "show_plan", "diff_plan",
    "LivePlans", "move_units", "lock_grids", "balance_plan", "split_grid", "merge_grid",
    "publish_plan", "discard_plan",
]
