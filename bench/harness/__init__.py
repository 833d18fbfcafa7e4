"""What every benchmark needs besides what it measures, one module a job.

- paths: the repository, bench/.data (generated data kept between runs), the redline command,
  the shared corpus
- results: the machine description, and writing a benchmark's section of RESULTS.md
- timing: repeated runs' median and spread, nearest-rank p99, timing without the collector
- databases: new databases with redline's schema on SQLite or PostgreSQL, dropped after; a
  named one emptied for a rebuild; sizes; the PostgreSQL server's description
- peers: the peer tools' virtualenvs (bench/.peers) and the system tools a benchmark needs
- processes: a clean environment, a free port, a server started and stopped, CPU and memory
  from /proc
- nginx: a throwaway nginx serving a directory of pages
- wrk: the HTTP load generator's command line, a run, and its output read
"""
