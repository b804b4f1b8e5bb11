"""Type stub for the viewer's slice-column builder (pyx/slice_columns.pyx); its methods are C-level,
for the scanners that cimport it."""

class SliceColumns:
    def __init__(self, capacity: int = 65536) -> None: ...
