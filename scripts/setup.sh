#!/usr/bin/env bash
# Install whatever gridmap needs that is missing; quick and silent when everything is there.
#   - Debian packages: PostgreSQL 15 + PostGIS 3 + pgRouting, Chromium (browser tests), CJK fonts
#   - .venv with the exact versions of requirements.lock, then gridmap itself (editable, no deps);
#     rebuilt only when requirements.lock or pyproject.toml changes. `make lock` refreshes the lock.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

LOCK=requirements.lock
# The lock was compiled for one Python minor version (its header says which); .venv must use it.
WANT_PY=$(grep -o -- '--python-version [0-9.]*' "$LOCK" | head -1 | cut -d' ' -f2)
[ -n "$WANT_PY" ] || { echo "$LOCK names no --python-version; run make lock" >&2; exit 1; }

PKGS="postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting chromium fonts-wqy-microhei"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# python3 with venv: to build .venv, or to bootstrap uv when Python $WANT_PY must be fetched
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing="$missing python3 python3-venv"
if [ -n "$missing" ]; then
  echo "==> installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

is_wanted() {  # does "$1" run Python $WANT_PY with venv + ensurepip?
  "$1" -c "import sys, venv, ensurepip; assert '%d.%d' % sys.version_info[:2] == '$WANT_PY'" >/dev/null 2>&1
}
pick_python() {
  for p in ${PYTHON:-} "python$WANT_PY" /root/.pyenv/versions/"$WANT_PY".*/bin/python"$WANT_PY" \
           /usr/local/bin/python"$WANT_PY" python3; do
    [ -n "$p" ] || continue
    if is_wanted "$p"; then command -v "$p" || echo "$p"; return 0; fi
  done
  return 1
}

make_venv() {
  local py
  if py=$(pick_python); then
    echo "==> creating .venv with $py (Python $WANT_PY, as $LOCK was compiled for)"
    "$py" -m venv .venv
  else
    # e.g. Debian 12 ships 3.11 only: let uv fetch a standalone CPython $WANT_PY
    echo "==> no Python $WANT_PY found: fetching one with uv"
    local boot; boot=$(mktemp -d)
    python3 -m venv "$boot" && "$boot/bin/pip" install -q 'uv>=0.5,<1'
    "$boot/bin/uv" venv -q --seed --python "$WANT_PY" .venv
    rm -rf "$boot"
  fi
}

stamp=.venv/.gridmap-installed
want=$(cat "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  if [ -x .venv/bin/python ] && ! is_wanted .venv/bin/python; then
    echo "==> .venv runs another Python than $WANT_PY: rebuilding it"
    rm -rf .venv
  fi
  [ -x .venv/bin/python ] || make_venv
  echo "==> installing $LOCK and gridmap into .venv"
  {
    .venv/bin/python -m pip install -q --upgrade pip &&
    .venv/bin/python -m pip install -q -r "$LOCK" &&
    .venv/bin/python -m pip install -q --no-deps -e . &&
    .venv/bin/python -m pip check
  } > .venv/pip-install.log 2>&1 || {
    cat .venv/pip-install.log >&2
    echo "setup failed; if pyproject.toml gained a dependency, refresh the lock: make lock" >&2
    exit 1
  }
  echo "$want" > "$stamp"
fi
# the pages' and messages' catalogues: .po -> .mo (Babel, offline; api.i18n also does it on first use)
.venv/bin/python scripts/i18n.py compile > /dev/null
