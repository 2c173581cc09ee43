"""The transactional outbox: queuing in the deciding transaction, the sender, delivery status."""
