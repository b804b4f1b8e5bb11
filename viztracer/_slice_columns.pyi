"""Type stub for the viewer's slice-column builder (pyx/slice_columns.pyx); its methods are C-level,
for the scanners that cimport it."""

class SliceColumns:
    def __init__(self, capacity: int = 65536) -> None: ...

class Progress:
    """How far a conversion has got: events and bytes read so far, out of ``bytes_total``."""
    events: int
    bytes_read: int
    bytes_total: int
    phase: str
    def __init__(self) -> None: ...
