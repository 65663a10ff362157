"""``tdx devnet compose``: write the keys, genesis and node folders docker/compose.yaml mounts."""

from __future__ import annotations

from pathlib import Path

import click

from ._output import Output, TdxCommand
from ._params import json_option

COMPOSE_FILE = "docker/compose.yaml"


@click.command(cls=TdxCommand)
@click.option("--dir", "root", type=click.Path(file_okay=False, path_type=Path),
              default=Path("docker-net"), show_default=True,
              help="New or empty directory for the keys, genesis, node folders and env file.")
@click.option("--network", default="tdx-compose", show_default=True, help="Network name.")
@click.option("--host-port", default=17401, show_default=True, type=click.IntRange(0, 65532),
              help="First of four ports published on 127.0.0.1 (validator-1..3, observer-1); "
                   "0 picks free ports.")
@click.option("--uid", type=click.IntRange(1), default=None,
              help="User id the containers run as [default: 10001, the image's user, when "
                   "run as root (the node folders are chowned to it); else your own].")
@click.option("--gid", type=click.IntRange(0), default=None,
              help="Group id the containers run as [default: like --uid].")
@json_option
def compose(root: Path, network: str, host_port: int, uid: int | None, gid: int | None,
            as_json: bool) -> None:
    """Write the files for the Docker test network: 3 validators and 1 observer.

    DIR gets genesis.json (members named after the compose services, validator-1..3 and
    observer-1, addressed as validator-1:7400 on the compose network), keys/NAME.key,
    nodes/NAME/ (each node's data folder, mounted at /data in its container), compose.env
    (the variables the compose file reads) and compose.json (a manifest).

    \b
    Example:
      tdx devnet compose --dir ./docker-net
      docker-compose -p tdx --env-file docker-net/compose.env -f docker/compose.yaml up -d
    """
    from tdx.node.ops.compose import compose_network

    manifest = compose_network(root, network=network, host_port=host_port, uid=uid, gid=gid)
    output = Output(as_json)

    def human() -> None:
        output.line(f"wrote network {manifest['network']} in {root} "
                    f"(containers run as uid {manifest['uid']})")
        output.table(None, ["name", "role", "api on this host", "on the compose network",
                            "key"],
                     ([n["name"], n["role"], n["api"], n["advertised"], n["key"]]
                      for n in manifest["nodes"]), no_wrap=["key"])
        output.line(f"start it with: docker-compose -p tdx --env-file {manifest['env_file']} "
                    f"-f {COMPOSE_FILE} up -d")

    output.emit(manifest, human)
