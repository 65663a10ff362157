"""``tdx node health``: ask a node's standard gRPC health service whether it is serving.

The node image's HEALTHCHECK runs it (in a container whose node serves TLS, env TDX_PIN names
the node's own key file); it does not load the node package.
"""

from __future__ import annotations

import time

import click
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tdx.sdk import channel

from ._output import Failure, Output, TdxCommand
from ._params import json_option, node_option


@click.command(cls=TdxCommand)
@node_option
@click.option("--service", default="", show_default=True,
              help="Service to ask about ('' is the whole node; or tdx.v1.LedgerService).")
@click.option("--timeout", default=3.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds to wait for the answer.")
@click.option("--wait", default=0.0, show_default=True, type=click.FloatRange(0),
              metavar="SECONDS",
              help="Keep asking for up to this long until the node serves (a node that was "
                   "just started).")
@json_option
def health(node: str, service: str, timeout: float, wait: float, as_json: bool) -> None:
    """Exit 0 when the node answers SERVING, 1 (one line on stderr) otherwise.

    \b
    Example:
      tdx node health --node 127.0.0.1:7400
      tdx node start --data ./node-de & tdx node health --wait 30
      docker inspect --format '{{.State.Health.Status}}' CONTAINER
    """
    request = health_pb2.HealthCheckRequest(service=service)
    deadline = time.monotonic() + wait
    while True:
        # A fresh channel each time: a channel that failed waits out gRPC's reconnect backoff.
        # Plaintext or pinned TLS, as the TLS options say (see `tdx status --help`).
        detail = ""
        try:
            with channel(node) as opened:
                answer = health_pb2_grpc.HealthStub(opened).Check(request, timeout=timeout)
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            status = code.name if code is not None else "UNKNOWN"
            details = exc.details() if isinstance(exc, grpc.Call) else ""
            if "handshake failed" in (details or "").lower():
                status, detail = "TLS_REFUSED", f" ({details})"
        else:
            if answer.status == health_pb2.HealthCheckResponse.SERVING:
                break
        if time.monotonic() >= deadline:
            raise Failure(f"node {node} is not healthy: {status}{detail}", code=status)
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    output = Output(as_json)
    output.emit({"node": node, "service": service, "status": status},
                lambda: output.line(f"{node}: {status}"))
