"""The offline viewer: the ``vizviewer`` command, its HTTP server and the web page it serves.

``cli.py`` reads the command line, ``server.py`` serves ``static/`` and the reports,
``reports.py`` decides which files may be served, ``external.py`` hands a report to Perfetto's
trace processor, ``stopping.py`` keeps a second Ctrl+C from breaking a clean stop,
``columns.py`` turns a report into the binary blob the page draws.
"""
