# Sourced by the scripts: make .venv (Python 3.11+) with tdx and its dev tools installed.
# Reinstalls when pyproject.toml changed since the last install.
VENV="${TDX_VENV:-$PWD/.venv}"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "tdx needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.tdx-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || \
   [ -n "$(find sdk node consensus cli network protos -name '*.py' -newer "$stamp" -print -quit)" ]; then
  echo "== installing tdx into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[dev]" --config-settings editable_mode=strict
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
