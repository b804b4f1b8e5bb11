"""``VizLoggingHandler``: records from the ``logging`` module as instants in the report."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .tracer import VizTracer


class VizLoggingHandler(logging.Handler):
    """A logging handler; each record becomes an instant ``logging - <formatted record>`` in the
    process scope. Without a tracer (``setTracer(None)``, the default) it does nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tracer: VizTracer | None = None

    def setTracer(self, tracer: VizTracer | None) -> None:  # noqa: N802 - the 1.x name
        """The tracer to send records to; None turns the handler into a no-op."""
        self._tracer = tracer

    def emit(self, record: logging.LogRecord) -> None:
        """Record one log record as an instant."""
        tracer = self._tracer
        if tracer is None:
            return
        try:
            tracer.add_instant(f"logging - {self.format(record)}", scope="p")
        except Exception:  # logging's own convention: a handler's failure is reported, not raised
            self.handleError(record)
