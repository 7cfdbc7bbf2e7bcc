"""What recording a History costs: the demo's training step with and without it.

Run with `python benchmarks/bench_history.py` (about two minutes). The demo is `train`'s
default run: MLP(2, [16, 16, 1]) on 100 two-moons points (80 to train on), full batch,
Adam, 100 epochs. Runs with each record_every are interleaved, in alternating order,
ROUNDS times; per run, the CPU time per step and, of it, the time spent inside the
History's on_batch and on_epoch. Prints PASS/FAIL for the default record_every against the
10 % target (median step time against runs that record nothing); always exits 0: it is a
report, not a test.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from micrograd_ann import history, training  # noqa: E402
from micrograd_ann.views import replay  # noqa: E402

ROUNDS = 5
TARGET = 0.10  # the default's overhead must stay under 10 % of a step


class Stopwatch:
    """Total seconds spent inside History.on_batch and on_epoch, while installed."""

    def __init__(self):
        self.seconds = 0.0
        self.saved = {}

    def __enter__(self):
        for name in ("on_batch", "on_epoch"):
            method = self.saved[name] = getattr(history.History, name)
            setattr(history.History, name, self._timed(method))
        return self

    def __exit__(self, *exc):
        for name, method in self.saved.items():
            setattr(history.History, name, method)

    def _timed(self, method):
        def timed(*args, **kwargs):
            start = time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - start
        return timed


def timed_run(record_every: int | None) -> tuple[float, float, int]:
    """(ms per step, ms per step of it spent recording, frames), in this process's CPU time."""
    with Stopwatch() as watch:
        start = time.process_time()
        result = training.train(training.TrainConfig(), history=record_every is not None,
                                record_every=record_every)
        seconds = time.process_time() - start
    frames = len(result.history.frames) if result.history else 0
    return 1e3 * seconds / result.steps, 1e3 * watch.seconds / result.steps, frames


def main() -> None:
    run = training.train(training.TrainConfig(), history=True)
    default = run.history.record_every  # History's choice for the demo's 100 epochs
    settings = [None, 1, 2, default, 10]  # None: no History at all
    steps: dict[int | None, list[float]] = {r: [] for r in settings}
    inside: dict[int | None, list[float]] = {r: [] for r in settings}
    frames: dict[int | None, int] = {}
    for round_ in range(ROUNDS):  # interleaved, in alternating order, so that drifts in
        for r in settings[::-1] if round_ % 2 else settings:  # machine load hit all alike
            total, recording, frames[r] = timed_run(r)
            steps[r].append(total)
            inside[r].append(recording)
    base = statistics.median(steps[None])
    print(f"demo training run (100 epochs, 1 step each), median of {ROUNDS} runs, CPU time")
    print(f"  {'record_every':>12}  {'ms/step':>8}  {'vs off':>7}  {'recording':>9}  "
          f"{'share':>6}  frames")
    for r in settings:
        ms = statistics.median(steps[r])
        rec = statistics.median(inside[r])
        versus = "-" if r is None else f"{(ms - base) / base:+.1%}"
        share = "-" if r is None else f"{rec / (ms - rec):.1%}"
        print(f"  {'off' if r is None else r:>12}  {ms:8.2f}  {versus:>7}  {rec:9.3f}  "
              f"{share:>6}  {frames[r] or '-'}")
    rec = statistics.median(inside[default])
    ms = statistics.median(steps[default])
    overall, share = (ms - base) / base, rec / (ms - rec)
    verdict = "PASS" if overall < TARGET else "FAIL"
    print(f"{verdict}: record_every={default} (the default) makes a step {overall:+.1%} slower "
          f"(target < {TARGET:.0%}); {share:.1%} is the time inside on_batch and on_epoch, "
          f"the rest its effect on the steps themselves (caches) and noise")

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        page = replay.to_html(run.history, os.path.join(tmp, "training.html"))
        seconds = time.perf_counter() - start
        saved = run.history.save(os.path.join(tmp, "history.json"))
        print(f"training.html: {len(page.encode()) / 1e6:.2f} MB in {seconds:.2f} s; "
              f"history.json: {os.path.getsize(saved) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
