"""Parquet in and out, published atomically."""
