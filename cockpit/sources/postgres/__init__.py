"""PostgreSQL: the source (one read-only session) and its SQL per server version (queries)."""
