"""Frequent English words with a news slant: the generated headlines, summaries and articles
of the benchmarks (bench/pages.py, bench/listing_repo.py, bench/world.py, bench_diff.py)
draw on them."""

from __future__ import annotations

_COMMON_TEXT = """
the of and to a in that is was he for it with as his on be at by had are but from or have an
they which one you were her all she there would their we him been has when who will more no
if out so said what up its about into than them can only other new some could time these two
may then do first any my now such like our over man me even most made after also did many
before must through back years where much your way well down should because each just those
people how too little state good very make world still own see men work long get here between
both life being under never day same another know while last might us great old year off come
since against go came right used take three government officials police minister president
army forces city country military security week report told statement killed attack people
talks election party leader court law support health company market percent million billion
"""
COMMON_WORDS = _COMMON_TEXT.split()
