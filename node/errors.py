"""Errors the node reports to its operator as one line."""


class NodeError(Exception):
    """A node cannot be initialized or started; the message is one line for the operator."""
