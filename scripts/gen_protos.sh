#!/usr/bin/env bash
# Regenerate the Python code for protos/tdx/v1/*.proto with the pinned generators
# (grpcio-tools and mypy-protobuf from pyproject's dev extra). The output is committed;
# CI runs this script and fails when `git diff --exit-code protos/` shows a change.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
out=protos
rm -f "$out"/tdx/v1/*_pb2.py "$out"/tdx/v1/*_pb2.pyi "$out"/tdx/v1/*_pb2_grpc.py "$out"/tdx/v1/*_pb2_grpc.pyi
"$PY" -m grpc_tools.protoc -I protos \
  --python_out="$out" --mypy_out="$out" \
  --grpc_python_out="$out" --mypy_grpc_out="$out" \
  protos/tdx/v1/*.proto
