#!/usr/bin/env bash
# Run the tdx network in Docker and check it from this host, as an operator would:
#
#  1. build the node image (docker/build.sh: a local base image, wheels, no network in the build)
#  2. `tdx devnet compose` writes keys, genesis and node folders; docker/compose.yaml runs
#     3 validators and 1 observer, each API published on a free 127.0.0.1 port
#  3. every container turns healthy (gRPC health), runs as a non-root user, publishes on
#     127.0.0.1 only; the validators elect one leader
#  4. documents submitted to validator-1 are read on the observer, whose proof checks
#     offline against the genesis
#  5. the leader's container is stopped; a new leader is elected, more documents are submitted
#     to a surviving validator and reach the observer
#  6. the old leader is started again and catches up
#
# Every container, network and volume it makes (compose project tdxtest<pid><time>), its image
# and its files are removed at the end, also on failure; the base image and the wheelhouse
# stay cached (see docker/build.sh). Exits 0 when every check passed.
# Env: TDX_DOCKER_KEEP=1 leaves the network running for a look (take it down yourself).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ -x .venv/bin/tdx ]; then
  venv="$root/.venv"
else
  # shellcheck source=scripts/venv.sh
  source scripts/venv.sh
  venv="$VENV"
fi
tdx="$venv/bin/tdx"
py="$venv/bin/python"
export PYTHON="${PYTHON:-$py}"
start=$SECONDS

say() { echo "== docker-test [$((SECONDS - start))s]: $*"; }
fail() { echo "docker-test: FAILED: $*" >&2; exit 1; }

docker info >/dev/null 2>&1 || fail "no Docker engine (docker info fails)"
if docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose_cmd=(docker-compose)
else
  fail "neither 'docker compose' nor docker-compose is installed"
fi

run="tdxtest$$$(date +%s)"
image="tdx-node:$run"
work="$(mktemp -d "${TMPDIR:-/tmp}/tdx-docker-test.XXXXXX")"
net="$work/net"
compose() { TDX_IMAGE="$image" "${compose_cmd[@]}" -p "$run" --env-file "$net/compose.env" \
              -f "$root/docker/compose.yaml" "$@"; }

cleanup() {
  local status=$?
  if [ "$status" != 0 ] && [ -f "$net/compose.env" ]; then
    echo "-- container logs (last lines each):" >&2
    compose logs --no-color --tail 30 >&2 2>&1 || true
  fi
  if [ "${TDX_DOCKER_KEEP:-}" = 1 ] && [ "$status" = 0 ]; then
    say "left running: ${compose_cmd[*]} -p $run --env-file $net/compose.env -f docker/compose.yaml down -v"
    return
  fi
  if [ -f "$net/compose.env" ]; then
    compose down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || true
  fi
  docker rmi "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
  say "cleaned up (project $run); exit $status"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

say "building $image"
docker/build.sh "$image" >/dev/null

say "writing the network's files"
"$tdx" devnet compose --dir "$net" --host-port 0 --network tdx-docker-test --json \
  >"$work/manifest.json"
# The nodes serve TLS: the network's folder pins each published port to its member key.
export TDX_DEVNET="$net"
# api NAME: the node's address on this host
api() { "$py" -c 'import json,sys; print(next(n["api"] for n in json.load(open(sys.argv[1]))["nodes"] if n["name"] == sys.argv[2]))' "$work/manifest.json" "$1"; }
validators=(validator-1 validator-2 validator-3)
observer="observer-1"

say "compose up"
compose up -d >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; fail "compose up"; }

container() { compose ps -q "$1"; }

# wait_until SECONDS WHAT COMMAND...: retry COMMAND (quietly) until it succeeds.
wait_until() {
  local limit=$1 what=$2 deadline=$((SECONDS + $1))
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what (waited ${limit}s)"
    sleep 1
  done
}
healthy() { [ "$(docker inspect --format '{{.State.Health.Status}}' "$(container "$1")")" = healthy ]; }

for name in "${validators[@]}" "$observer"; do
  wait_until 120 "$name did not turn healthy" healthy "$name"
done
say "all four containers are healthy"

for name in "${validators[@]}" "$observer"; do
  id="$(container "$name")"
  user="$(docker exec "$id" id -u)"
  [ "$user" != 0 ] || fail "$name runs as root"
  bindings="$(docker port "$id" 7400/tcp)"
  [ "$(grep -cv '^127\.0\.0\.1:' <<<"$bindings" || true)" = 0 ] \
    || fail "$name publishes its API beyond 127.0.0.1: $bindings"
  mode="$(docker exec "$id" stat -c '%a %u' /data/node.key)"
  [ "$mode" = "600 $user" ] || fail "$name: /data/node.key is '$mode', not 0600 owned by $user"
done
say "non-root (uid $user), key files 0600, API published on 127.0.0.1 only"

# leader [NAMES...]: print the leader when the named validators agree on one; else fail.
leader() {
  local name seen=""
  for name in "$@"; do
    local said
    said="$("$tdx" status --node "$(api "$name")" --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["leader"])')"
    [ -n "$said" ] || return 1
    [ -z "$seen" ] || [ "$said" = "$seen" ] || return 1
    seen="$said"
  done
  echo "$seen"
}
wait_until 60 "the validators did not agree on a leader" leader "${validators[@]}"
first_leader="$(leader "${validators[@]}")"
say "leader: $first_leader"

if "$tdx" status --node "$(api validator-1)" --pin "$net/keys/validator-2.key" >/dev/null 2>&1; then
  fail "validator-1 answered a client pinned to validator-2's key"
fi
say "TLS: a client pinned to another member's key is refused"

# make_docs FROM TO: export declarations with distinct UCRs, one file each; prints the files.
make_docs() {
  "$tdx" doc template export_declaration >"$work/template.json"
  "$py" - "$work" "$1" "$2" <<'EOF'
import json, sys
work, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
doc = json.load(open(f"{work}/template.json"))
for i in range(first, last + 1):
    doc["ucr"] = f"4DE123456789-DKR-2026-{i:04d}"
    doc["content"]["functional_reference_id"] = f"DE-EX-2026-{i:06d}"
    path = f"{work}/doc-{i}.json"
    json.dump(doc, open(path, "w"))
    print(path)
EOF
}
# submit NODE FROM TO: sign as validator-1 and submit documents FROM..TO to NODE.
submit() {
  local files
  mapfile -t files < <(make_docs "$2" "$3")
  "$tdx" doc submit "${files[@]}" --kind export_declaration --key "$net/keys/validator-1.key" \
    --node "$(api "$1")" --json >"$work/receipts-$2.json" \
    || { cat "$work/receipts-$2.json" >&2; fail "submitting documents $2-$3 to $1"; }
}
# count NODE: how many export declarations NODE holds.
count() {
  "$tdx" doc query --kind export_declaration --limit 0 --node "$(api "$1")" --json \
    | "$py" -c 'import json,sys; d=json.load(sys.stdin); print(len(d if isinstance(d, list) else d["documents"]))'
}
has() { [ "$(count "$1")" = "$2" ]; }

submit validator-1 1 5
say "5 documents submitted to validator-1"
wait_until 60 "the observer does not hold the 5 documents" has "$observer" 5
say "the observer holds all 5"

doc_id="$("$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d[0] if isinstance(d, list) else d; print(r.get("document_id") or r["id"])' "$work/receipts-1.json")"
"$tdx" doc get "$doc_id" --node "$(api "$observer")" --json >/dev/null \
  || fail "the observer cannot show document $doc_id"
"$tdx" doc proof "$doc_id" --node "$(api "$observer")" --out "$work/proof.json" >/dev/null
"$tdx" doc verify --proof "$work/proof.json" --genesis "$net/genesis.json" >/dev/null \
  || fail "the observer's proof of $doc_id does not verify offline"
say "the observer's proof of $doc_id verifies offline against the genesis"

say "stopping the leader's container ($first_leader)"
compose stop --timeout 10 "$first_leader" >/dev/null 2>&1
survivors=()
for name in "${validators[@]}"; do
  [ "$name" = "$first_leader" ] || survivors+=("$name")
done
wait_until 60 "no new leader among ${survivors[*]}" leader "${survivors[@]}"
new_leader="$(leader "${survivors[@]}")"
[ "$new_leader" != "$first_leader" ] || fail "the stopped $first_leader is still the leader"
say "new leader: $new_leader"

submit "${survivors[0]}" 6 10
say "5 more documents submitted to ${survivors[0]}"
wait_until 60 "the observer does not hold all 10 documents" has "$observer" 10
for name in "${survivors[@]}"; do
  has "$name" 10 || fail "$name does not hold all 10 documents"
done
say "the observer and both running validators hold all 10"

say "starting $first_leader again"
compose start "$first_leader" >/dev/null 2>&1
wait_until 120 "$first_leader did not turn healthy again" healthy "$first_leader"
wait_until 60 "$first_leader did not catch up to 10 documents" has "$first_leader" 10
say "$first_leader caught up"

say "PASSED in $((SECONDS - start))s"
