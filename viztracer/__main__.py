"""``python -m viztracer``: the same as the ``viztracer`` command."""
from .cli import console_main

console_main()
