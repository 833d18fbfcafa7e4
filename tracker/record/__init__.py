"""Recording: writing what a check observed as items, versions and changes.

A check's observations ingested in one transaction (ingest.py, with its tallies and
pending writes in ingest_state.py), new items (newcomers.py), new versions and their
changes (new_versions.py), an item's history read back (history.py), merges and splits
of items (merge.py), partial observations (partial.py), what a listing showed before
(listing_memory.py), and the 304s of a round written together (not_modified.py).
"""
