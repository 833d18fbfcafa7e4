"""Presenting: what a record looks like to readers.

Diffs rendered as text and HTML (render.py), export documents of an item's history
(export.py), and pictures of edits (diff_image.py).
"""
