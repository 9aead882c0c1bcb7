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


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_attributes(tree: ast.Module) -> set[str]:
    """``_names`` a module's classes own: assigned as ``self._x`` / ``cls._x`` or in a class body."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and is_private(node.attr) \
                and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            out.add(node.attr)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                targets = item.targets if isinstance(item, ast.Assign) else [item.target] \
                    if isinstance(item, ast.AnnAssign) else []
                out |= {t.id for t in targets if isinstance(t, ast.Name) and is_private(t.id)}
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and is_private(item.name):
                    out.add(item.name)
    return out


def is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def private_reaches(source: str, here: str, foreign: dict[str, set[str]]) -> list[str]:
    """Where module ``here`` (its ``source``) reaches into another gridmap module's ``_private`` names.

    * ``from geo.x import _y`` (another module);
    * ``m._y`` / ``geo.x._y`` where ``m`` is another gridmap module (``import geo.x as m``, ``from geo
      import x``);
    * ``obj._y`` (``obj`` not ``self``/``cls``) where ``_y`` is an attribute only another module's
      classes own (``foreign``: module -> its classes' private attributes), e.g. a search reading a
      ``Partition``'s ``_a``.
    """
    tree = ast.parse(source)
    own = private_attributes(tree)
    theirs = {a: m for m, attrs in foreign.items() if m != here for a in attrs} if foreign else {}
    bound: dict[str, str] = {}  # local name -> gridmap module it names
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in PACKAGES:
                    bound[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] in PACKAGES:
            for a in node.names:
                if node.module != here and is_private(a.name):
                    found.append(f"{node.lineno}: from {node.module} import {a.name}")
                elif is_module(f"{node.module}.{a.name}"):
                    bound[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
            continue
        chain, base = [], node.value
        while isinstance(base, ast.Attribute):
            chain.insert(0, base.attr)
            base = base.value
        if not isinstance(base, ast.Name) or base.id in ("self", "cls"):
            continue
        if base.id in bound:
            target = ".".join([bound[base.id], *chain])
            if target != here and is_module(target):
                found.append(f"{node.lineno}: {target}.{node.attr}")
                continue
        if node.attr in theirs and node.attr not in own:
            found.append(f"{node.lineno}: {ast.unparse(node)} ({theirs[node.attr]}'s)")
    return found


def test_no_module_imports_another_modules_private_names():
    """No module reaches into another's ``_private`` names: a shared helper gets a proper home and a
    class that others read states a public surface (``grep -rn "import _\\|\\._[a-z]" geo api``
    as an AST check)."""
    trees = {module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in modules()}
    foreign = {m: private_attributes(t) for m, t in trees.items()}
    found = []
    for path in modules():
        here = module_name(path)
        found += [f"{path.relative_to(ROOT)}:{f}" for f in
                  private_reaches(path.read_text(encoding="utf-8"), here, foreign)]
    assert not found, found


@pytest.mark.parametrize("source, reach", [
    ("from geo.network import _x", "from geo.network import _x"),
    ("import geo.network as n\nn._x()", "geo.network._x"),
    ("from geo import network\nnetwork._x", "geo.network._x"),
    ("import geo.network\ngeo.network._x", "geo.network._x"),
    ("def f(p):\n    return p._a[0]", "p._a (geo.zoning.partition's)"),
])
def test_the_private_names_check_sees_each_way_in(source, reach):
    """The check above is not vacuous: each form of reaching in is reported (and a module's own use
    of its private attributes, or ``self._x``, is not)."""
    foreign = {"geo.zoning.partition": {"_a"}, "geo.other": set()}
    assert [f.split(": ", 1)[1] for f in private_reaches(source, "geo.other", foreign)] == [reach]
    own = "class C:\n    def __init__(self):\n        self._a = 1\n\ndef g(c):\n    return c._a, c.__dict__"
    assert private_reaches(own, "geo.other", foreign) == []


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
