"""The repository keeps its own house rules (issue 12): every file and module it names exists, packages
by concept (no prefix-named sibling modules, no module importing another's ``_private`` names), the
packaging data and the lock file agree with ``pyproject.toml``, and the page-wide routes live with
the pages.  Static checks on the files, no database."""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
import importlib
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "geo")
SELF = "tests/test_repository.py"  # its examples of stale names are not references


def tracked() -> list[Path]:
    """The repository's files (tracked or new, not ignored), vendored assets left out."""
    git = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    if git.returncode == 0:
        out = git.stdout.split()
    else:  # not a git checkout (an unpacked archive): every file but caches
        out = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()
               and not {".git", ".venv", "__pycache__", ".pytest_cache", "node_modules"} & set(p.parts)]
    return [ROOT / f for f in out if not f.startswith("api/static/") and f != SELF and (ROOT / f).is_file()]


def texts(suffixes: tuple[str, ...]) -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8", errors="replace")
            for p in tracked() if p.suffix in suffixes or p.name in suffixes}


# -- names of files and modules ------------------------------------------------------------------
#: A repository path with a file suffix, as prose names one (``tests/api/test_models.py``).
PATH = re.compile(r"(?<![\w./-])((?:api|geo|tests|benchmarks|docs|scripts|data|notebooks|shared)/[\w./-]*\w"
                  r"\.(?:py|md|toml|lock|gpkg|ipynb|sh|json|csv|ini|txt|html|js|css))\b")


def test_every_file_path_named_in_code_docs_and_configs_exists():
    missing = {}
    for name, text in texts((".py", ".md", ".toml", ".sh", ".cfg", ".ini", "Makefile", "run")).items():
        for m in PATH.finditer(text):
            if not (ROOT / m.group(1)).exists():
                missing.setdefault(m.group(1), set()).add(name)
    assert not missing, "paths named but absent: " + "; ".join(
        f"{p} (in {', '.join(sorted(v))})" for p, v in sorted(missing.items()))


#: A dotted reference to gridmap's code in a docstring or a document (:mod:`api.x`, ``geo.y.z``).
REF = re.compile(r":(?:mod|func|class|data|meth|attr|exc|obj):`~?((?:api|geo)\.[\w.]+)`"
                 r"|``((?:api|geo)\.[a-z_][\w]*(?:\.[\w]+)*)``")


def resolves(ref: str) -> bool:
    parts = ref.rstrip(".").split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            fields = {f.name for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else set()
            if not hasattr(obj, attr) and attr not in fields:
                return False
            obj = getattr(obj, attr, None)
        return True
    return False


def test_every_module_and_name_referenced_in_docstrings_and_docs_exists():
    stale = {}
    for name, text in texts((".py", ".md")).items():
        for m in REF.finditer(text):
            ref = m.group(1) or m.group(2)
            if not ref.endswith(".py") and not resolves(ref):
                stale.setdefault(ref, set()).add(name)
    assert not stale, "references to nothing: " + "; ".join(
        f"{r} (in {', '.join(sorted(v))})" for r, v in sorted(stale.items()))


# -- packages by concept ---------------------------------------------------------------------------
def modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
                  if "migrations" not in p.parts and "static" not in p.parts)


def test_no_prefix_named_sibling_modules():
    """``coverage.py`` beside ``coverage_gaps.py``, or ``intake.py`` beside ``intake_http.py``, is a
    family split by length: it is a package instead."""
    families = []
    for folder in sorted({p.parent for p in modules()}):
        names = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("__"))
        names += sorted(d.name for d in folder.iterdir() if (d / "__init__.py").exists())
        for a in names:
            kin = [b for b in names if b != a and b.startswith(a + "_")]
            if kin:
                families.append(f"{folder.relative_to(ROOT)}: {a} + {', '.join(kin)}")
    assert not families, families


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_imports_another_modules_private_names():
    found = []
    for path in modules():
        here = module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                    and node.module.split(".")[0] in PACKAGES and node.module != here:
                found += [f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{a.name}"
                          for a in node.names if a.name.startswith("_")]
    assert not found, found


def test_every_package_states_its_surface_or_is_a_namespace_of_modules():
    """A package whose ``__init__`` imports names lists them in ``__all__`` (its public surface)."""
    missing = []
    for init in (p for p in modules() if p.name == "__init__.py"):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        imports = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module != "__future__"]
        has_all = any(isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in n.targets)
                      for n in tree.body)
        if imports and not has_all and init.parent.name != "cli":  # api/cli/__init__ builds the typer app
            missing.append(str(init.relative_to(ROOT)))
    assert not missing, missing


# -- packaging -------------------------------------------------------------------------------------
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_package_data_patterns_match_files():
    """Each ``package-data`` pattern ships something (no pattern left for files that are gone)."""
    data = pyproject()["tool"]["setuptools"]["package-data"]
    empty = []
    for pkg, patterns in data.items():
        files = [str(p.relative_to(ROOT / pkg)) for p in (ROOT / pkg).rglob("*") if p.is_file()]
        empty += [f"{pkg}: {pat}" for pat in patterns
                  if not any(fnmatch.fnmatch(f, pat) or fnmatch.fnmatch(f, pat.replace("**/", "")) for f in files)]
    assert not empty, empty


def test_the_lock_pins_every_dependency_within_its_range():
    """``requirements.lock`` (``make lock``) pins each dependency of pyproject and of its ``test`` extra
    at a version its range allows: a dependency added without refreshing the lock fails here."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    project = pyproject()["project"]
    wrong = []
    for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
        req = Requirement(spec)
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None or not req.specifier.contains(pinned, prereleases=True):
            wrong.append(f"{spec}: lock has {pinned}")
    assert not wrong, "run make lock: " + "; ".join(wrong)


# -- routes ------------------------------------------------------------------------------------------
def routes(items):
    """Every route of the app, included routers (and theirs) walked through."""
    for r in items:
        inner = getattr(r, "original_router", None)
        yield from routes(inner.routes) if inner is not None else (r,)


@pytest.mark.parametrize("path", ["/favicon.ico", "/docs", "/map"])
def test_page_wide_routes_live_with_the_pages(path):
    from api.app import create_app
    from api.settings import Settings

    app = create_app(Settings(_env_file=None), migrate=False)
    found = [r.endpoint.__module__ for r in routes(app.router.routes) if getattr(r, "path", None) == path]
    assert found == ["api.routes.pages"], found
