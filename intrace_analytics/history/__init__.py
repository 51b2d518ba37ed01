"""The history store: an append-only change log in plain Parquet, one partition per load."""
