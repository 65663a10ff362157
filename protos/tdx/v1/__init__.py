"""Generated protobuf and gRPC modules for the tdx wire contract, version 1."""
