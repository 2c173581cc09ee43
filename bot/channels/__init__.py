"""Channel adapters: each turns provider traffic into `Inbound` and `OutboundMessage` into API calls."""
