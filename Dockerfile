# One tdx node image. It installs tdx from a wheelhouse made beforehand and needs no network
# while it builds (docker build --network none works), as in an air-gapped administration:
#
#   pip wheel --wheel-dir docker/wheels .        # tdx and every dependency, on a host
#   docker build --network none -t tdx-node .    # BASE_IMAGE: see below
#
# BASE_IMAGE is any Debian-like image with python3 (3.11+) that can make a venv, and
# libgmp10 (bookworm has it in its base system). Without a registry, build one from Debian's
# packages: scripts/docker-test.sh shows how (debootstrap, then docker import).
#
# The node runs as uid 10001 with its data folder at /data (a volume, made by
# `tdx node init --api 0.0.0.0:7400 ...`) and serves its API and PeerService on port 7400.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS install
COPY docker/wheels/ /wheels/
RUN python3 -m venv /opt/tdx \
 && /opt/tdx/bin/pip install --no-index --find-links /wheels --no-cache-dir tdx \
 && /opt/tdx/bin/tdx --version

FROM ${BASE_IMAGE}
RUN groupadd --system --gid 10001 tdx \
 && useradd --system --uid 10001 --gid tdx --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin tdx \
 && mkdir /data && chown tdx:tdx /data && chmod 0700 /data
# Everything but the venv first: these layers stay cached when only tdx changes.
ENV PATH=/opt/tdx/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TDX_NODE=127.0.0.1:7400
USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 7400
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 \
    CMD ["tdx", "node", "health", "--timeout", "3"]
ENTRYPOINT ["tdx"]
CMD ["node", "start", "--data", "/data"]
# Owned by root: the node's user can read and run it, not change it.
COPY --from=install /opt/tdx /opt/tdx
