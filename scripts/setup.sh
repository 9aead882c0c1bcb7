#!/usr/bin/env bash
# Install whatever gridmap needs that is missing; quick and silent when everything is there.
#   - Debian packages: PostgreSQL 15 + PostGIS 3 + pgRouting, Chromium (browser tests), CJK fonts
#   - .venv with gridmap and its test dependencies (re-installed only when pyproject.toml changes)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PKGS="postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting chromium fonts-wqy-microhei"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

pick_python() {
  for p in ${PYTHON:-} python3.12 /root/.pyenv/versions/3.12*/bin/python3.12 python3.11 python3; do
    [ -n "$p" ] || continue
    if "$p" -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; then
      command -v "$p" || echo "$p"; return 0
    fi
  done
  return 1
}
PY=$(pick_python || true)
if [ -z "$PY" ]; then missing="$missing python3 python3-venv"; fi

if [ -n "$missing" ]; then
  echo "==> installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  PY=${PY:-$(pick_python)}
fi

stamp=.venv/.gridmap-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> creating .venv with $PY and installing gridmap"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  if ! .venv/bin/python -m pip install -q -e '.[test]' > .venv/pip-install.log 2>&1; then
    cat .venv/pip-install.log >&2; exit 1
  fi
  echo "$want" > "$stamp"
fi
