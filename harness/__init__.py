"""harness: judge generated workflow engines by execution, against a written contract."""

__version__ = "0.1.0"
