"""redline's tracker: fetch pages, extract items, follow their identity, record versions."""

__version__ = "0.1.0"
