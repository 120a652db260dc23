#!/usr/bin/env python3
"""python-loky: an execkit backend on loky's process pool (README.md).

Run by the harness: execkit-conformance --backend-cmd "python3 <dir>/loky_backend.py".
It finds execkit_backend.py through $EXECKIT_PYTHON_DIR, the source tree
(protocol/python/) or an installed prefix (share/execkit/python/)."""
import os
import sys


def _execkit_python_dir():
    here = os.path.dirname(os.path.realpath(__file__))
    candidates = [os.environ.get("EXECKIT_PYTHON_DIR", "")]
    directory = here
    while True:
        candidates += [os.path.join(directory, "protocol", "python"), os.path.join(directory, "python"),
                       os.path.join(directory, "share", "execkit", "python")]
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for candidate in candidates:
        if candidate and os.path.isfile(os.path.join(candidate, "execkit_backend.py")):
            return candidate
    sys.exit("python-loky: execkit_backend.py not found; set EXECKIT_PYTHON_DIR to its directory "
             "(protocol/python in the source tree, share/execkit/python when installed)")


if __name__ == "__main__":
    # Also the workers' path: loky starts them with this process's sys.path.
    sys.path.insert(0, _execkit_python_dir())
    import execkit_backend
    from loky_scheduler import LokyBackend
    sys.exit(execkit_backend.serve(LokyBackend()))
