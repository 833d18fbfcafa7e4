"""Fetching: getting pages from the web or from snapshot archives.

A conditional GET with size and time caps, giving a Snapshot (client.py); which
addresses may be fetched, public ones unless more are allowed (addresses.py), and the
guard that refuses the others at every connection (netguard.py); the spacing of
requests to one host (politeness.py); challenge, consent and "not found" pages served
with 200 told apart from real ones (blocked.py); and snapshot archives, git repositories
and folders of saved pages, as another source of pages (archives.py).
"""
