"""The configuration file: default command-line options kept in ``.viztracerrc``.

The file is read with :mod:`configparser`. Options go under a ``[default]`` section, one
``name = value`` line each, where ``name`` is the flag without its leading ``--``; flags that take
no value are written ``name = True`` and lists are separated by spaces::

    [default]
    ignore_c_function = True
    max_stack_depth = 10
    exclude_files = venv tests

This module only reads the file; turning values into options is the command line's job.
"""
from __future__ import annotations

import configparser
import os

DEFAULT_RCFILE = ".viztracerrc"
SECTION = "default"


class RcFileError(ValueError):
    """The configuration file can't be used; the message is one line."""


def read_rcfile(path: str | None) -> tuple[str | None, dict[str, str]]:
    """Return ``(path, options)`` from the ``[default]`` section of a configuration file.

    ``path`` is the file given with ``--rcfile``; it must exist. Without it, ``.viztracerrc`` in
    the current directory is read when there is one, and ``(None, {})`` is returned otherwise.
    """
    if path is None:
        if not os.path.isfile(DEFAULT_RCFILE):
            return None, {}
        path = DEFAULT_RCFILE
    elif not os.path.isfile(path):
        raise RcFileError(f"rcfile {path!r} not found; check the path given to --rcfile")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except (OSError, UnicodeDecodeError) as exc:
        raise RcFileError(f"can't read rcfile {path!r}: {exc}") from None
    except configparser.Error as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise RcFileError(f"can't parse rcfile {path!r}: {first_line}") from None
    if not parser.has_section(SECTION):
        raise RcFileError(f"rcfile {path!r} has no [{SECTION}] section; "
                          f"put the options under a line that reads [{SECTION}]")
    return path, {key: value for key, value in parser.items(SECTION)}
