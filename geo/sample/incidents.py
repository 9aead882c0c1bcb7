"""Incidents of the sample district (local metres; see :mod:`geo.sample.layout`).

About 0.19 incidents per household per year (Jiangyin: 95,399 a year for ~500,000 households)
over the years ending 2026-10-31 (local time, Asia/Shanghai):

* where: 75% at homes drawn by household weight, 25% around a few hotspots (markets, old quarters;
  Gaussian, 60-180 m), and ~0.2% just outside the district, so outside every grid;
* when: weekly and daily rhythm per reporter (grid workers report in office hours on weekdays,
  the 12345 hotline and residents into the evening, few at night) and a mild summer peak;
* what: categories of :data:`geo.layers.INCIDENT_CATEGORIES` with realistic weights (more parking
  and environment cases at hotspots), escalation mostly at grid level;
* outcome: handling time log-normal (median ~1.3 days at grid level, longer when escalated, long
  tail); ~1% of cases stall, so ~98.9% of cases older than 30 days are closed (5% of closures
  ``closed_other`` with a reason); recent cases spread over the open states.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo.layers import CLOSE_REASONS
from geo.sample.names import pad

RATE_PER_HOUSEHOLD_YEAR = 95_399 / 500_000
END = pd.Timestamp("2026-11-01T00:00", tz="Asia/Shanghai")  # the window ends with 2026-10-31
CATEGORIES = {"environment": 0.23, "dispute": 0.14, "safety_hazard": 0.13, "property": 0.12,
              "parking": 0.11, "street_light": 0.07, "illegal_construction": 0.06, "elderly_care": 0.06,
              "other": 0.08}
HOTSPOT_TILT = {"parking": 2.0, "environment": 1.5, "dispute": 1.3}
REPORTERS = {"grid_worker": 0.48, "hotline_12345": 0.22, "resident": 0.13, "volunteer": 0.08,
             "mobile_sentinel": 0.08, "other": 0.01}
OFFICE = np.array([.2, .1, .1, .1, .2, .5, 1, 3, 8, 10, 10, 8, 4, 7, 10, 10, 9, 6, 3, 1.5, 1, .6, .4, .3])
PUBLIC = np.array([1, .6, .4, .3, .3, .6, 1.5, 3, 5, 6, 6.5, 6, 5, 5.5, 6, 6, 6, 6, 6.5, 7, 6, 4.5, 3, 1.8])
LEVELS = ("grid", "community", "town", "department")
ESCALATION = {"default": (.84, .11, .04, .01), "illegal_construction": (.55, .2, .15, .1),
              "safety_hazard": (.75, .15, .07, .03)}
MEDIAN_HOURS = np.array([30.0, 50.0, 90.0, 140.0])  # by escalation level
STALL = 0.0105
TEMPLATES = {
    "safety_hazard": ["楼道堆放杂物，存在消防隐患", "电动车在楼道内充电", "井盖破损"],
    "dispute": ["邻里噪音纠纷", "宅基地界址纠纷", "物业费纠纷"],
    "environment": ["垃圾清运不及时", "河道漂浮物", "绿化带杂草丛生"],
    "illegal_construction": ["违章搭建彩钢棚", "屋顶加层施工", "占用绿地搭建"],
    "property": ["电梯故障", "小区门禁损坏", "屋面漏水"],
    "parking": ["车辆占用消防通道", "非机动车乱停放", "僵尸车长期占用车位"],
    "street_light": ["路灯不亮", "路灯白天常亮", "灯杆倾斜"],
    "elderly_care": ["独居老人需要上门探访", "老人助餐服务需求", "适老化改造咨询"],
    "other": ["居民咨询", "其他事项"],
}


def count_for(households: int, years: float) -> int:
    """Incidents in ``years`` years for ``households`` households at the Jiangyin rate."""
    return int(round(RATE_PER_HOUSEHOLD_YEAR * households * years))


def _times(rng, reporter: np.ndarray, years: float) -> np.ndarray:
    """Seconds after the window's start for each incident, by its reporter's rhythm."""
    n_days = max(1, int(round(years * 365)))
    start = END - pd.Timedelta(days=n_days)
    days = pd.date_range(start, periods=n_days, freq="D")
    season = 1 + 0.12 * np.sin(2 * np.pi * (days.day_of_year.to_numpy() - 100) / 365)
    out = np.empty(len(reporter))
    for r in REPORTERS:
        m = reporter == r
        if not m.any():
            continue
        office = r == "grid_worker"
        week = np.array([1, 1, 1, 1, 1, .45, .35]) if office else np.array([1, 1, 1, 1, 1, .85, .8])
        p = week[days.day_of_week.to_numpy()] * season
        day = rng.choice(n_days, m.sum(), p=p / p.sum())
        prof = OFFICE if office else PUBLIC
        hour = rng.choice(24, m.sum(), p=prof / prof.sum())
        out[m] = day * 86400 + hour * 3600 + rng.integers(0, 3600, m.sum())
    return out, start


def make_incidents(rng, n: int, years: float, dw: dict, outline, comm_names: np.ndarray) -> dict:
    """``n`` incidents: positions (m) and attributes, sorted by ``reported_at``."""
    hh = dw["households"].astype(float)
    n_out = int(round(0.002 * n)) if n >= 100 else 0
    kind = rng.choice(3, n, p=[0.75, 0.25, 0.0])  # 0 home, 1 hotspot, 2 outside
    kind[rng.choice(n, n_out, replace=False)] = 2
    src = rng.choice(len(hh), n, p=hh / hh.sum())
    x, y = dw["x"][src] + rng.normal(0, 10, n), dw["y"][src] + rng.normal(0, 10, n)
    n_hot = max(3, len(comm_names) // 6)
    hot_at = rng.choice(len(hh), n_hot, replace=False, p=hh / hh.sum()) if len(hh) >= n_hot else src[:1].repeat(n_hot)
    hot_w = rng.gamma(1.5, 1.0, n_hot)
    h = rng.choice(n_hot, n, p=hot_w / hot_w.sum())
    sigma = rng.uniform(60, 180, n_hot)[h]
    hot = kind == 1
    x[hot] = dw["x"][hot_at[h[hot]]] + rng.normal(0, 1, hot.sum()) * sigma[hot]
    y[hot] = dw["y"][hot_at[h[hot]]] + rng.normal(0, 1, hot.sum()) * sigma[hot]
    src[hot] = hot_at[h[hot]]
    strayed = (kind != 2) & ~shapely.contains_xy(outline, x, y)  # keep the in-district ones inside
    x[strayed], y[strayed] = dw["x"][src[strayed]], dw["y"][src[strayed]]
    out = kind == 2
    if out.any():
        ring = shapely.get_exterior_ring(outline)
        p = shapely.get_coordinates(shapely.line_interpolate_point(ring, rng.random(out.sum()), normalized=True))
        c = shapely.get_coordinates(shapely.centroid(outline))[0]
        d = p - c
        push = rng.uniform(30, 300, out.sum()) / np.hypot(d[:, 0], d[:, 1])
        x[out], y[out] = p[:, 0] + d[:, 0] * push, p[:, 1] + d[:, 1] * push

    cats = np.array(list(CATEGORIES))
    base = np.array(list(CATEGORIES.values()))
    tilt = base * np.array([HOTSPOT_TILT.get(c, 1.0) for c in cats])
    category = np.where(hot, rng.choice(cats, n, p=tilt / tilt.sum()), rng.choice(cats, n, p=base))
    reporter = rng.choice(np.array(list(REPORTERS)), n, p=np.array(list(REPORTERS.values())))
    secs, start = _times(rng, reporter, years)
    level = np.zeros(n, int)
    for cat in cats:
        m = category == cat
        level[m] = rng.choice(4, m.sum(), p=ESCALATION.get(cat, ESCALATION["default"]))

    other = rng.random(n) < 0.05
    dur = rng.lognormal(np.log(MEDIAN_HOURS[level]), 1.0) * np.where(other, 0.5, 1.0) * 3600
    dur = np.maximum(dur, 600.0).round()
    span = (END - start).total_seconds()
    age = span - secs
    closed = (rng.random(n) >= STALL) & (dur <= age)
    status = np.where(other, "closed_other", "resolved").astype(object)
    fresh = np.select([age < 2 * 3600, age < 12 * 3600], [
        rng.choice(["reported", "dispatched"], n),
        rng.choice(["dispatched", "accepted", "in_progress"], n, p=[.3, .4, .3])],
        rng.choice(["accepted", "in_progress"], n, p=[.2, .8]))
    status[~closed] = fresh[~closed]
    reason = np.where(closed & other, rng.choice(np.array(CLOSE_REASONS), n, p=[.45, .35, .2]), None)

    o = np.argsort(secs, kind="stable")
    reported = (start + pd.to_timedelta(secs[o], unit="s")).tz_convert("UTC")
    closed_at = reported + pd.to_timedelta(np.where(closed[o], dur[o], np.nan), unit="s")
    year = (start + pd.to_timedelta(secs[o], unit="s")).year.to_numpy()
    seq = pd.Series(year).groupby(year).cumcount().to_numpy() + 1
    ext = np.char.add(np.char.add("INC-", year.astype(str)), np.char.add("-", pad(seq, 6)))
    place = np.where(out, "辖区外", comm_names[dw["community"][src]])
    pick = rng.integers(0, 3, n)
    desc = np.array([p + TEMPLATES[c][k % len(TEMPLATES[c])] for p, c, k in zip(place, category, pick)], dtype=object)
    return {"x": x[o], "y": y[o], "external_id": ext, "category": category[o], "reported_at": reported,
            "description": desc[o], "reporter_kind": reporter[o], "status": status[o],
            "escalation_level": np.array(LEVELS)[level[o]], "closed_at": closed_at, "close_reason": reason[o]}
