"""Heron collector: OTLP in, ClickHouse out."""
