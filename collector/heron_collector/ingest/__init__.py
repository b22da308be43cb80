"""OTLP in, rows out: the receivers (HTTP, gRPC), decoding, row building, limits, the spool and the writer."""
