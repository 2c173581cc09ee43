"""The Telegram channel: the adapter, and its webhook or long-polling runtime inside serve."""
