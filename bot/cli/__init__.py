"""The peerline command line, one module per command group."""
