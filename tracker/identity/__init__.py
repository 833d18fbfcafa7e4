"""Identity: which item an observation is.

Each observation's keys in tiers and the fuzzy matching of newcomers and hub pages
(match.py), ids found in URLs (url_ids.py), sites and the sources that share them
(sites.py), and the index of keys across a site's sources (source_index.py).
"""
