"""Where a benchmark figure came from: the machine, its load while the figure was measured, versions, command, date."""

from __future__ import annotations

import os
import platform
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LoadSampler", "provenance"]


class LoadSampler(threading.Thread):
    """Samples the 1-minute load average every ``period`` seconds until :meth:`stop`, because the machine may be shared.

    Example:
        >>> load = LoadSampler(period=60.0)
        >>> load.start()
        >>> sorted(load.stop())
        ['max', 'mean', 'samples']
    """

    def __init__(self, period: float = 15.0):
        super().__init__(daemon=True)
        self.period = period
        self.samples: list[float] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop_event.wait(self.period)

    def stop(self) -> dict[str, float]:
        """Stop sampling; the mean and max load and the number of samples."""
        self._stop_event.set()
        self.join()
        values = self.samples or [os.getloadavg()[0]]
        return {"mean": float(np.mean(values)), "max": float(np.max(values)), "samples": len(values)}


def provenance(**extra: Any) -> dict[str, Any]:
    """CPUs, torch threads, versions, platform, the command line and the UTC date, plus ``extra``."""
    import torch

    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1m_at_end": os.getloadavg()[0],
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.platform(),
        "command": " ".join(["python", *[Path(sys.argv[0]).as_posix(), *sys.argv[1:]]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }
