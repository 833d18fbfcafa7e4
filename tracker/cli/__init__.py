"""The `redline` command: the parser and what every command does first (main.py), one
module per group of verbs (sources.py, reading.py, identity.py, notify.py, service.py),
and what they share (common.py). The only part of tracker that may import feeds.
"""
