"""Governance: membership proposals and votes, and key rotation (filled in below)."""

from __future__ import annotations
