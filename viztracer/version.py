__version__ = "0.1.0"
# The VizTracer release whose API this version provides: plugins name the API version they
# need (``support_version()``), and 1.x programs expect its names and report shapes.
API_VERSION = "1.1.1"
