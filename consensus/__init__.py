"""A pure Raft state machine: no sockets, clocks, threads or disk."""
