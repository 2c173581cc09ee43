"""Operations: what an operator or a load balancer asks of a running bot (health, readiness)."""
