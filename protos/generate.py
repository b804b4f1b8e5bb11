"""Regenerate viztracer/report/perfetto_pb2.py from protos/viztracer_perfetto.proto.

Run ``python protos/generate.py`` after changing the .proto, and check the result in. It needs
``grpcio-tools`` (in the ``test`` extra), whose bundled protoc does the work.
tests/test_protos.py calls ``generate`` to check that the checked-in module is not stale.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

PROTOS = Path(__file__).resolve().parent
PROTO = "viztracer_perfetto.proto"
TARGET = PROTOS.parent / "viztracer" / "report" / "perfetto_pb2.py"
# protoc names the module after the .proto file; ours lives in the package under another name.
PROTOC_MODULE = "viztracer_perfetto_pb2"
MODULE = "viztracer.report.perfetto_pb2"


def generate(dest: Path = TARGET) -> Path:
    """Run protoc on the .proto and write the Python module to ``dest``."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", f"--python_out={tmp}",
                        PROTO], check=True, cwd=PROTOS)
        code = (Path(tmp) / f"{PROTOC_MODULE}.py").read_text(encoding="utf-8")
    # The module name protoc writes becomes the message classes' __module__ (used by pickle).
    code = code.replace(f"'{PROTOC_MODULE}'", f"'{MODULE}'")
    dest.write_text(code, encoding="utf-8")
    return dest


if __name__ == "__main__":
    print(f"wrote {generate()}")
