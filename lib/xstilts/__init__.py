"""X-STILTs reproduction: the thin shared library behind the notebooks."""

__version__ = "0.1.0"
