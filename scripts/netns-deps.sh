#!/usr/bin/env bash
# Install what tests/multihost needs from Debian: iproute2 (`ip`: namespaces, veths, the
# bridge) and nftables (`nft`: cutting a host off), when they are missing and we may (root,
# with apt-get). Otherwise change nothing: the tests then skip and say why. Never fails the
# caller for a failed install, since the tests report what is missing.
set -uo pipefail
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "netns-deps: ${missing[*]} missing; tests/multihost will skip (install as root)" >&2
  exit 0
fi
echo "netns-deps: installing ${missing[*]}"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
         apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "netns-deps: installing ${missing[*]} failed; tests/multihost will skip" >&2
fi
exit 0
