"""The staff console: server-rendered pages for peers, supervisors and admins, on `peerline serve`'s app."""
