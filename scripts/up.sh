#!/usr/bin/env bash
# Set up .venv and start a local tdx network: 3 validators and 1 observer under ./devnet (or
# $1), their APIs on 127.0.0.1:7400-7403 (free ports, named in the output, when those are
# taken). A devnet that is there already is started again where it left off.
# Stop it with: .venv/bin/tdx devnet stop --dir devnet
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/venv.sh
source scripts/venv.sh
dir="${1:-devnet}"
if [ -f "$dir/devnet.json" ]; then
  echo "== $dir holds a devnet: starting the nodes that are not running"
fi
tdx devnet up --dir "$dir" --validators "${TDX_VALIDATORS:-3}" --observers "${TDX_OBSERVERS:-1}"
cat <<EOT

Try it (the README's "Try it" goes on from here):
  source .venv/bin/activate
  export TDX_DEVNET=$dir        # tdx commands talk to this devnet's leader
  tdx status
  tdx doc template export_declaration > decl.json
  tdx doc submit decl.json --key $dir/keys/customs-1.key
  tdx doc query --kind export_declaration
Stop it with: tdx devnet stop --dir $dir   (scripts/up.sh starts it again)
EOT
