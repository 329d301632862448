"""Where a Python server's time goes, without py-spy: a thread samples every other thread's stack
(``sys._current_frames``) every few milliseconds and, at exit, writes the functions seen most often (inclusive, the
function or anything it called, and exclusive, the function itself) per thread kind.

    python benchmarks/sampling.py OUT.txt -m streamlit run app.py ...   # what load.py --profile does
    kill -USR1 <pid>                                                      # forget the warm-up's samples

Sampling holds the GIL for a moment per sample (about 1-2 % at the default 10 ms; ``SAMPLING_INTERVAL_S`` sets it); the counts are shares of
samples, so of wall time in each thread, not of CPU.
"""

from __future__ import annotations

import atexit
import collections
import os
import re
import runpy
import signal
import sys
import threading
import time

_PLAIN = re.compile(r"-\d+$|_\d+$")


def _kind(name: str) -> str:
    """Thread names without their serial numbers ("ScriptRunner.scriptThread", "MainThread", ...)."""
    return _PLAIN.sub("", name)


class Sampler:
    def __init__(self, out: str, interval: float = 0.01):
        self.out, self.interval = out, interval
        self.inclusive: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.exclusive: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.samples: collections.Counter = collections.Counter()
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="sampler", daemon=True).start()
        atexit.register(self.write)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so atexit runs when the server is terminated
        signal.signal(signal.SIGUSR1, lambda *_: self.reset())  # kill -USR1: count from now on (after a warm-up)

    def reset(self) -> None:
        self.inclusive.clear()
        self.exclusive.clear()
        self.samples.clear()

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.is_set():
            names = {t.ident: _kind(t.name) for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                kind = names.get(ident, "?")
                self.samples[kind] += 1
                seen = set()
                top = True
                while frame is not None:
                    code = frame.f_code
                    where = f"{code.co_name} ({os.path.relpath(code.co_filename)}:{code.co_firstlineno})"
                    if top:
                        self.exclusive[kind][where] += 1
                        top = False
                    if where not in seen:
                        self.inclusive[kind][where] += 1
                        seen.add(where)
                    frame = frame.f_back
            time.sleep(self.interval)

    def write(self) -> None:
        self._stop.set()
        with open(self.out, "w") as f:
            for kind, n in self.samples.most_common():
                f.write(f"== thread {kind}: {n} samples\n-- inclusive\n")
                for where, c in self.inclusive[kind].most_common(45):
                    f.write(f"{c / n:6.1%}  {where}\n")
                f.write("-- exclusive\n")
                for where, c in self.exclusive[kind].most_common(20):
                    f.write(f"{c / n:6.1%}  {where}\n")


if __name__ == "__main__":
    out, rest = sys.argv[1], sys.argv[2:]
    if rest[:1] != ["-m"] or len(rest) < 2:
        sys.exit("usage: python benchmarks/sampling.py OUT.txt -m MODULE [ARGS...]")
    Sampler(out, float(os.environ.get("SAMPLING_INTERVAL_S", "0.01"))).start()
    sys.argv = [rest[1], *rest[2:]]
    runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
