"""DuckDB warehouse: connection handling, raw DDL, loader with its file ledger, publishing."""
