"""The tdx node: a LevelDB ledger, the state machine that fills it and the gRPC API."""

from tdx.node.errors import NodeError
from tdx.node.ops.config import init_node, load_config
from tdx.node.ops.settings import NodeSettings
from tdx.node.server import Node, start_node

__all__ = ["Node", "NodeError", "NodeSettings", "init_node", "load_config", "start_node"]
