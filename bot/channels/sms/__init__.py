"""The SMS channel (Twilio): the adapter, and its inbound and delivery-receipt webhooks."""
