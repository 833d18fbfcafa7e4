"""Running: configuration, scheduling and the checks themselves.

redline.toml and its settings (config.py), when each source is due (schedule.py),
adding and changing sources (sources.py), one check of one source (check.py), rounds of
checks on a thread pool (rounds.py), the daemon (daemon.py), replaying snapshot archives
(replay.py), progress and status reports (progress.py, status.py), and asking the
Wayback Machine to archive new versions (archive_links.py, wayback.py).
"""
