"""The PredictIQ API simulator: real HTTP, /health that checks PostgreSQL and Redis, traffic that
reads through the cache."""
