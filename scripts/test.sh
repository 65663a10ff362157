#!/usr/bin/env bash
# Run every check tdx has: set up .venv (if missing), check the generated protobuf code is
# current, lint, type-check, and run the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/venv.sh
source scripts/venv.sh

echo "== generated code is current"
PYTHON="$VENV/bin/python" scripts/gen_protos.sh >/dev/null
if ! git diff --quiet --exit-code -- protos/; then
  git --no-pager diff --stat -- protos/
  echo "protos/: generated code is stale; run scripts/gen_protos.sh and commit" >&2
  exit 1
fi
echo "== buf lint";   (cd protos && "$VENV/bin/buf" lint)
echo "== ruff";       "$VENV/bin/ruff" check .
echo "== mypy";       "$VENV/bin/mypy" -p tdx.sdk -p tdx.node -p tdx.consensus -p tdx.cli -p tdx.network
echo "== pytest";     "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
