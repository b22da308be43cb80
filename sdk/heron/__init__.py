"""Heron: monitor machine-learning models in production over OpenTelemetry."""

__version__ = "0.1.0"
__all__ = ["__version__"]
