"""The ``tdx`` entry point: the root group and the console script's ``main``."""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version

# grpc's core logs each failed TLS handshake at INFO on stderr; the CLI says what failed in
# one line itself (set GRPC_VERBOSITY to see grpc's own). Read when grpc loads: set first.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import click
from tdx.sdk import set_default_trust

from ._output import TdxGroup, error_json
from .compose import compose
from .devnet import devnet
from .doc import doc
from .genesis import genesis
from .gov import gov
from .health import health
from .keys import keys
from .node import node
from .proofs import proof, verify
from .status import status
from .story import story
from .template import template_command
from .workflows import aeo, cert, watch

DEBUG_ENV = "TDX_DEBUG"


def _version() -> str:
    try:
        return version("tdx")
    except PackageNotFoundError:
        return "unknown"


@click.group(cls=TdxGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), prog_name="tdx")
def cli() -> None:
    """tdx: a permissioned ledger for customs trade documents.

    Every command prints a human view by default and one JSON document with --json.
    Failures exit 1 with a one-line reason on stderr; usage mistakes exit 2.

    \b
    A network of one, from nothing:
      tdx keys generate --out customs-de.key
      tdx genesis create --out genesis.json --network tdx-devnet
      tdx genesis add-member genesis.json --name "Zoll DE" --key customs-de.key \\
          --country DE --roles customs,issuer --validator --address 127.0.0.1:7400
      tdx node init --genesis genesis.json --key customs-de.key --data ./node-de
      tdx node start --data ./node-de &
      tdx doc template export_declaration > decl.json
      tdx doc submit decl.json --key customs-de.key
      tdx status

    \b
    Shell completion (bash; zsh and fish likewise with zsh_source, fish_source):
      eval "$(_TDX_COMPLETE=bash_source tdx)"
    """
    # Each command names its own TLS trust (--genesis, --pin, ...); none is left over from
    # an earlier command run in this process.
    set_default_trust(None)


cli.add_command(keys)
cli.add_command(genesis)
cli.add_command(node)
cli.add_command(doc)
cli.add_command(status)
cli.add_command(devnet)
cli.add_command(gov)
cli.add_command(cert)
cli.add_command(aeo)
cli.add_command(watch)
doc.add_command(template_command)
doc.add_command(proof)
doc.add_command(verify)
doc.add_command(story)
node.add_command(health)
devnet.add_command(compose)


def main() -> None:
    """Run the CLI; an unexpected error is one line too (TDX_DEBUG=1 shows the traceback)."""
    try:
        cli.main(prog_name="tdx")
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        message = (f"internal error: {type(exc).__name__}: {exc} "
                   f"(set {DEBUG_ENV}=1 for the traceback)")
        click.echo(error_json("INTERNAL", message) if "--json" in sys.argv[1:]
                   else f"error: {message}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
