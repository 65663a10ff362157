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
  echo "== installing tdx into $VENV (pip's output: $VENV/install.log)"
  # setuptools prints notices about editable installs even with -q: keep pip's output in a
  # log, and show it only when the install fails.
  if ! { "$VENV/bin/python" -m pip install -q --upgrade pip &&
         "$VENV/bin/python" -m pip install -q -e ".[dev]" --config-settings editable_mode=strict
       } >"$VENV/install.log" 2>&1; then
    cat "$VENV/install.log" >&2
    echo "installing tdx into $VENV failed (log above, and in $VENV/install.log)" >&2
    exit 1
  fi
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
