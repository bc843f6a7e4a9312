"""Fault injection for the recipe tests: a process killed in the middle of a checkpoint write.

Put this directory on ``PYTHONPATH`` and set ``SEPPLUG_KILL_SAVE=NAME:K``: in every Python
process, the K-th ``torch.save`` whose target file name contains NAME (``checkpoint.pth``
as ESPnet writes it, or the temp name an atomic save writes it under) writes the first half
of the serialised object, flushes it to disk and SIGKILLs the process: what a kill (or
the OOM killer) during ``torch.save`` leaves. Without the variable this module does nothing.
"""

import os

_spec = os.environ.get("SEPPLUG_KILL_SAVE")
if _spec:
    import io
    import signal

    import torch

    _name, _k = _spec.rsplit(":", 1)
    _original = torch.save
    _seen = [0]

    def _save(obj, f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)) and _name in os.path.basename(os.fspath(f)):
            _seen[0] += 1
            if _seen[0] == int(_k):
                buffer = io.BytesIO()
                _original(obj, buffer, *args, **kwargs)
                data = buffer.getvalue()
                with open(f, "wb") as out:
                    out.write(data[: len(data) // 2])
                    out.flush()
                    os.fsync(out.fileno())
                os.kill(os.getpid(), signal.SIGKILL)
        return _original(obj, f, *args, **kwargs)

    torch.save = _save
