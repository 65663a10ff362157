#!/usr/bin/env bash
# Set up .venv and start a local tdx network on the embedded defaults:
# 3 validators and 1 observer on free 127.0.0.1 ports, under ./devnet (or $1).
# Stop it with: .venv/bin/tdx devnet down --dir devnet
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/venv.sh
source scripts/venv.sh
dir="${1:-devnet}"
if [ -f "$dir/devnet.json" ]; then
  echo "== $dir already holds a devnet; its status:"
  tdx devnet status --dir "$dir"
  echo "(stop it with: .venv/bin/tdx devnet down --dir $dir; remove $dir for a fresh one)"
  exit 0
fi
tdx devnet up --dir "$dir" --validators "${TDX_VALIDATORS:-3}" --observers "${TDX_OBSERVERS:-1}"
leader_api=$(python -c "import json,sys; m=json.load(open(sys.argv[1])); print(next(n['api'] for n in m['nodes'] if n['name']==m['leader']))" "$dir/devnet.json")
cat <<EOT

Try it:
  source .venv/bin/activate
  tdx doc template export_declaration > decl.json
  tdx doc submit decl.json --kind export_declaration --key $dir/keys/customs-1.key --node $leader_api
  tdx doc query --kind export_declaration --node $leader_api
  tdx status --node $leader_api
  tdx devnet down --dir $dir
EOT
