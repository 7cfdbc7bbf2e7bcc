"""One engine for bench.py's before/after table, in a fresh process: whichever
micrograd_ann comes first on PYTHONPATH (this checkout, or an earlier commit's package
unpacked by bench.py) runs the user-written demo step beside micrograd 0.1.0 and the
hand-written floor, the way bench.py's section 1 times them. Prints JSON: median ms per
step with the collector on, per engine.
"""

from __future__ import annotations

import json
import statistics
import sys

ROUNDS = 9  # micrograd (about 1 s a step here) runs every third round


def main() -> None:
    import workloads as wl
    from bench import BLOCK, MICROGRAD_EVERY, timed_steps

    X, y = wl.moons()
    mg = wl.micrograd_model()
    weights = wl.weights_of(mg)
    engines = {"micrograd": (wl.micrograd_step, mg),
               "engine": (wl.user_step, wl.ours_model(weights)),
               "floor": (wl.floor_step, wl.floor_model(weights))}
    times = {name: [] for name in engines}
    k = 5
    for r in range(ROUNDS):
        for name, (step, model) in engines.items():
            if name != "micrograd" or r % MICROGRAD_EVERY == 0:
                times[name] += timed_steps(step, model, X, y, k, gc_on=True)
        k += BLOCK
    from micrograd_ann import engine

    print(json.dumps({"engine.py": engine.__file__,
                      **{name: statistics.median(ms) for name, ms in times.items()}}))


if __name__ == "__main__":
    sys.exit(main())
