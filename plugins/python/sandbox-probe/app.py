"""The WASI sandbox probe in Python, exporting example:probe/probe@0.1.0.

Each function tries what a Python program would (open, os.listdir,
os.environ, socket) and reports the error the sandbox gave.

componentize-py snapshots the interpreter after importing this module, and
the sandbox has no filesystem to import from later: import every module the
service will use at the top (here `encodings.idna`, which `socket` loads on
first use).
"""

import encodings.idna  # noqa: F401  socket needs it; see below
import os
import socket
from typing import List, Optional

from componentize_py_types import Err
from wit_world import exports


def failure(e: BaseException) -> Err:
    return Err(f"{type(e).__name__}: {e}")


class Probe(exports.Probe):
    def read_file(self, path: str) -> str:
        try:
            with open(path) as f:
                return f.read()
        except Exception as e:
            raise failure(e)

    def list_dir(self, path: str) -> List[str]:
        try:
            return sorted(os.listdir(path))
        except Exception as e:
            raise failure(e)

    def env_var(self, name: str) -> Optional[str]:
        return os.environ.get(name)

    def connect(self, addr: str) -> None:
        host, _, port = addr.rpartition(":")
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect((host, int(port)))
        except Exception as e:
            raise failure(e)
