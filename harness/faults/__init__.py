"""Fault injection: seeded plans, byte-level log damage, and driving engines through them."""
