"""Several engine processes sharing the books through Redis (issue 17, docs/reliability.md)."""
