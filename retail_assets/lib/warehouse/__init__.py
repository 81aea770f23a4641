"""The warehouse.

The lake and its DuckDB catalog, the SQL models and their runner, table schemas.
"""
