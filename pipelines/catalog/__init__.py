"""The DuckDB catalog: migrations, registration of versions, and a light read client."""
