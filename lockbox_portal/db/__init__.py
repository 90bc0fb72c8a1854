"""Lockbox's database connections: PostgreSQL with every wait bounded (see limits.py)."""
