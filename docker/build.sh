#!/usr/bin/env bash
# Build the tdx node image (Dockerfile) with no network inside the build.
#
#   docker/build.sh [TAG]          # default tdx-node:latest; prints TAG when done
#
# 1. The base image: $TDX_BASE_IMAGE if set (python:3.11-slim where a registry is reachable);
#    else tdx-base:bookworm-1, which this script makes when the engine lacks it, from
#    Debian's own packages (debootstrap --variant=minbase with python3 and python3-venv; needs
#    root, debootstrap and a Debian mirror, $TDX_DEBIAN_MIRROR) and keeps as a tar in the
#    cache, so that a new engine imports it again in seconds.
# 2. A wheelhouse of tdx's dependencies, made on this host with `pip wheel` by $PYTHON (default
#    .venv/bin/python), which must be the base image's Python version. Kept in the cache,
#    keyed by pyproject.toml and that version. The tdx wheel is built fresh each time, from a
#    copy of the working tree (files git tracks or does not ignore).
# 3. docker build --network none, from a context of the Dockerfile and those wheels.
#
# The cache is $TDX_DOCKER_CACHE (default ~/.cache/tdx-docker); a lock file there lets runs
# share it. Nothing but TAG (and the base image, when made) is left in the engine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tag="${1:-tdx-node:latest}"
cache="${TDX_DOCKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tdx-docker}"
base_recipe="bookworm-1"   # bump when the debootstrap recipe below changes
mirror="${TDX_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"; else python=python3; fi
fi

say() { echo "== docker/build.sh: $*" >&2; }
die() { echo "docker/build.sh: $*" >&2; exit 1; }

# pip wheel ARGS with its progress on stderr, one line a package (collecting, building,
# saved), and its whole output in LOG; on failure the end of LOG is shown. Returns pip's
# status.
wheel() {
  local log="$1"; shift
  { "$python" -m pip wheel --progress-bar off "$@" 2>&1; echo "$?" >"$log.status"; } |
    tee "$log" |
    { grep --line-buffered -E '^ *(Collecting|Building wheel for|Created wheel for|Saved) ' |
        sed -u -e 's/^ */   /' >&2 || true; }
  local status
  status="$(cat "$log.status")"
  if [ "$status" != 0 ]; then tail -n 30 "$log" >&2; fi
  return "$status"
}

work="$(mktemp -d "${TMPDIR:-/tmp}/tdx-docker-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9   # one builder of the shared base image and wheelhouse at a time

make_base() {  # the base image from Debian packages
  local image="$1" tarball="$cache/base-$base_recipe.tar"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || die "no base image $image and no debootstrap to make one (apt-get install debootstrap, or set TDX_BASE_IMAGE)"
    [ "$(id -u)" = 0 ] || die "debootstrap needs root to make the base image $image (or set TDX_BASE_IMAGE)"
    say "making base image $image with debootstrap (about a minute)"
    local rootfs="$work/rootfs"
    if ! debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" \
         "$mirror" >"$work/debootstrap.log" 2>&1; then
      tail -n 30 "$work/debootstrap.log" >&2
      die "debootstrap failed"
    fi
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
      "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
      "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*
    tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
  fi
  say "importing $tarball as $image"
  docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
    "$tarball" "$image" >/dev/null
}

base="${TDX_BASE_IMAGE:-}"
if [ -z "$base" ]; then
  base="tdx-base:$base_recipe"
  docker image inspect "$base" >/dev/null 2>&1 || make_base "$base"
fi
docker image inspect "$base" >/dev/null 2>&1 || die "base image $base is not in the engine"

image_py="$(docker run --rm --network none --entrypoint python3 "$base" \
  -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
host_py="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$image_py" = "$host_py" ] || die "the base image has Python $image_py but $python is $host_py: set PYTHON to a Python $image_py to build its wheels"

# A copy of the working tree, so that building never writes into the checkout.
src="$work/src"
mkdir "$src"
(cd "$root" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -C "$src" -xf -

key="$( (cat "$root/pyproject.toml"; echo "python $host_py $(uname -m)") | sha256sum | cut -c1-16)"
wheels="$cache/wheels-$key"
if [ ! -d "$wheels" ]; then
  say "building the wheelhouse $wheels (pip wheel; compiles what has no binary wheel)"
  wheel "$work/pip.log" --wheel-dir "$work/wheelhouse" "$src" || die "pip wheel failed"
  rm -f "$work"/wheelhouse/tdx-*.whl
  mv "$work/wheelhouse" "$wheels"
fi
context="$work/context"
mkdir -p "$context/docker/wheels"
cp -l "$wheels"/*.whl "$context/docker/wheels/" 2>/dev/null || cp "$wheels"/*.whl "$context/docker/wheels/"
touch "$wheels"
# Keep the three wheelhouses used last (one per pyproject.toml seen).
ls -1dt "$cache"/wheels-* | tail -n +4 | xargs -r rm -rf
flock -u 9

cp "$root/Dockerfile" "$context/"
say "building the tdx wheel"
wheel "$work/pip.log" --no-deps --wheel-dir "$context/docker/wheels" "$src" ||
  die "pip wheel of tdx failed"

say "building $tag from $base ($(find "$context/docker/wheels" -name "*.whl" | wc -l) wheels, no network)"
# The install stage is tagged while the image builds, then untagged: so nothing dangles.
stage="$tag-install"
[[ "$tag" == *:* ]] || stage="$tag:install"
build() { docker build --network none --build-arg "BASE_IMAGE=$base" "$@" "$context" \
            >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; return 1; }; }
status=0
build --target install -t "$stage" && build -t "$tag" || status=$?
docker rmi "$stage" >/dev/null 2>&1 || true
[ "$status" = 0 ] || die "docker build failed"
echo "$tag"
