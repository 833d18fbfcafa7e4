"""Comparing: what changed between two versions of an item, and how much it matters.

Word-level diffs and their cleanup (diff.py, diff_cleanup.py), paragraph alignment of
bodies (paragraphs.py), the significance of a change by its rules and its style
(significance.py, significance_rules.py, significance_style.py), the judgement of an
edit (judgement.py), noise patterns ignored before comparing (noise.py), and the
headline tests a site runs, told apart from edits (headline_tests.py).
"""
