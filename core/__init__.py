"""Loradesk's engine: no Qt. The version is the distribution's (pyproject.toml reads it here)."""

__version__ = "0.1.0"
