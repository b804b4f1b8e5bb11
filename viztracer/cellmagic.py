"""The Jupyter ``%%viztracer`` cell magic: not available in this version yet."""
from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext viztracer``: says that the cell magic is not available yet."""
    print("viztracer: the %%viztracer cell magic is not available in this version yet; "
          "trace a notebook's code inline with `with VizTracer(): ...`")
