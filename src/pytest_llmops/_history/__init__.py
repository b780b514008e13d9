"""The run history: each run's report, kept in a database (SQLite or PostgreSQL) for trends."""
