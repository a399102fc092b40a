"""Figures, tables and HTML rendering of a run."""
