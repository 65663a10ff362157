"""The libp2p mesh between tdx nodes (membership-gated gossip and block fetch)."""
