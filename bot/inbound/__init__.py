"""The one inbound path: batching and group commit, routing, keywords, answers, relay, strangers, failures."""
