"""``python -m vizviewer``: the ``vizviewer`` command, under the module name VizTracer 1.x users type."""
from viztracer.viewer.cli import console_main

if __name__ == "__main__":
    console_main()
