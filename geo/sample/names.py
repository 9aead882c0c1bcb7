"""Fictional Chinese names for the sample district: places, streets, people, telephone numbers.

Place names are built from two syllable pools (so they read like Jiangnan place names without
copying real ones) and towns carry the prefix 示例 ("example") so nobody mistakes the sample for a
real place.  Everything is drawn from a seeded :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import numpy as np

FIRST = list("东西南北青白金桂枫柳梅兰竹松荷桃杏石云霞江溪泉山岭安宁和康乐福祥瑞新丰长永文明华盛嘉")
SECOND = list("塘桥港浦泾湾埠墩庄圩岸坝亭林园里溪湖苑舍渡")
SURNAMES = list("王李张刘陈杨黄赵周吴徐孙朱马胡郭林何高罗郑梁谢宋唐许邓冯韩曹曾彭蔡潘田董袁叶蒋杜苏魏程吕丁沈任姚卢钟姜崔谭陆金戴夏邱方侯邹顾钱")
GIVEN = ["伟", "芳", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
         "霞", "平", "刚", "文", "华", "红", "秀英", "桂英", "建华", "国强", "志强", "丽华", "晓燕",
         "海燕", "建国", "玉兰", "春梅", "晓东", "立新", "雪梅", "志明", "凤英", "建军", "晓峰"]
TOWN_SUFFIX = ("镇", "街道")
STREET_SUFFIX = {"primary": "大道", "secondary": "路", "tertiary": "路", "residential": "巷"}


def place_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct two-syllable place names (repeats only beyond the pool's 1,000 names)."""
    pool = np.array([a + b for a in FIRST for b in SECOND])
    if n <= len(pool):
        return rng.choice(pool, n, replace=False)
    extra = np.char.add(rng.choice(pool, n - len(pool)), np.array([str(i) for i in range(n - len(pool))]))
    return np.concatenate([rng.permutation(pool), extra])


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` fictional person names (surname + given name)."""
    return np.char.add(np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n)],
                       np.array(GIVEN)[rng.integers(0, len(GIVEN), n)])


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` fictional Jiangyin landline numbers (area code 0510, the 8-digit 86xxxxxx block)."""
    return np.char.add("0510-86", pad(rng.integers(0, 1_000_000, n), 6))


def pad(values: np.ndarray, width: int) -> np.ndarray:
    """Integers as decimal strings zero-padded to ``width`` digits (works on empty arrays)."""
    return np.array([f"{int(v):0{width}d}" for v in np.asarray(values).ravel()], dtype=f"<U{width + 12}")


def numbered(prefix: str, n: int, width: int) -> np.ndarray:
    """``prefix`` followed by 1..n zero-padded to ``width`` digits."""
    return np.char.add(prefix, pad(np.arange(1, n + 1), width))
