"""Time micrograd 0.1.0, micrograd_ann and hand-written float loops on the same work.

Run with `make bench` (installs micrograd==0.1.0). Prints the headline ratios, a table per
section and PASS/FAIL per target; always exits 0: it is a report, not a test. Our demo
step is timed three ways: as micrograd's notebook writes it (builtin sum, number
constants: "user-written"), with sum_values, and the user-written loss compiled
(micrograd_ann.compile), whose compile time is measured in user-written plain steps.
Section 5 unpacks engine.py's earlier versions from git (the commits in ENGINE_HISTORY)
and times each in a fresh process beside micrograd and the floor (engine_child.py).
"""

from __future__ import annotations

import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ENGINE = Path(__file__).resolve().parents[1] / "micrograd_ann" / "engine.py"

import workloads as wl  # noqa: E402
from micrograd_ann import Value, sum_values, topological_order  # noqa: E402

ROUNDS = 12  # rounds of the demo step: each engine times a block with the GC on, then off
MICROGRAD_EVERY = 3  # micrograd's step takes ~1 s with the GC on: it runs every 3rd round
BLOCK = 4  # consecutive steps per block, as a training loop runs them; the first warms up
AGREE_STEPS = 5
AGREE_TOL = 1e-9


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# NOTE: the CPU time of this process, not the wall clock: the steps are single-threaded,
# so on an idle machine the two agree, and on a shared one other processes do not count.
clock = time.process_time


def timed(fn, *args, gc_on: bool):
    """(seconds, result) of fn(*args), starting from a collected heap."""
    gc.collect()
    if not gc_on:
        gc.disable()
    try:
        start = clock()
        result = fn(*args)
        return clock() - start, result
    finally:
        gc.enable()


def timed_steps(step, model, X, y, k: int, gc_on: bool) -> list[float]:
    """ms of each of BLOCK consecutive training steps but the first (a warm-up, when the
    engine's objects are cold after another engine ran). The heap is collected once
    before the block, not between its steps: a training loop does not collect either."""
    gc.collect()
    if not gc_on:
        gc.disable()
    ms = []
    try:
        for i in range(BLOCK):
            start = clock()
            step(model, X, y, k + i)
            ms.append(1e3 * (clock() - start))
    finally:
        gc.enable()
    return ms[1:]


def table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                 enumerate(zip(row, widths))]
        print("  " + "  ".join(cells))
    print()


# ------------------------------------------------------------------ 1. the demo step


MICROGRAD, USER, SUM_VALUES, COMPILED, FLOOR = (
    "micrograd 0.1.0", "micrograd_ann, user-written", "micrograd_ann, sum_values",
    "micrograd_ann, compiled", "hand-written floor")


def demo_engines(X, y, compiled: bool = True):
    """Each engine's (step, model), all starting from micrograd's weights; the compiled one
    only when asked."""
    mg = wl.micrograd_model()
    weights = wl.weights_of(mg)
    engines = {
        MICROGRAD: (wl.micrograd_step, mg),
        USER: (wl.user_step, wl.ours_model(weights)),
        SUM_VALUES: (wl.ours_step, wl.ours_model(weights)),
    }
    if compiled:
        engines[COMPILED] = (wl.compiled_step, wl.compiled_model(weights, X, y))
    engines[FLOOR] = (wl.floor_step, wl.floor_model(weights))
    return engines


def demo_step_times(X, y) -> tuple[dict[str, dict[bool, float]], float]:
    """Median ms/step per engine with the collector on and off, engines interleaved (and
    the first rotated) in every round, so load on the machine hits them alike."""
    engines = demo_engines(X, y)
    names = list(engines)
    for k in range(AGREE_STEPS):  # identical weights, so identical losses
        losses = {name: step(model, X, y, k) for name, (step, model) in engines.items()}
        reference = losses[names[0]]
        for name, loss in losses.items():
            assert abs(loss - reference) <= AGREE_TOL, f"step {k}: {name} loss {loss!r} " \
                f"!= micrograd's {reference!r}"
    print(f"  losses agree to {AGREE_TOL:g} over {AGREE_STEPS} steps "
          f"(step {AGREE_STEPS - 1}: {reference:.12f})")
    times = {name: {True: [], False: []} for name in names}
    compiles = []
    weights = wl.weights_of(engines[MICROGRAD][1])
    k = AGREE_STEPS  # the demo's 100 steps: its learning rate stays positive
    for r in range(ROUNDS):
        order = names[r % len(names):] + names[: r % len(names)]
        if r % MICROGRAD_EVERY:
            order.remove(MICROGRAD)
        for gc_on in (True, False):  # both at the same point of training
            for name in order:
                step, model = engines[name]
                times[name][gc_on].extend(timed_steps(step, model, X, y, k, gc_on))
            k += BLOCK
        gc.collect()
        compiles.append(wl.compiled_model(weights, X, y)[2])  # GC on, as a user compiles
    medians = {name: {on: statistics.median(v) for on, v in t.items()}
               for name, t in times.items()}
    return medians, statistics.median(compiles)


def report_demo(ms: dict[str, dict[bool, float]]) -> None:
    mg, floor = ms[MICROGRAD], ms[FLOOR]
    rows = []
    for name, t in ms.items():
        rows.append([name, f"{t[True]:.2f}", f"{mg[True] / t[True]:.1f}x",
                     f"{t[False]:.2f}", f"{mg[False] / t[False]:.1f}x",
                     f"{t[True] / floor[True]:.1f} / {t[False] / floor[False]:.1f}"])
    table(["demo step", "ms GC on", "speed-up", "ms GC off", "speed-up",
           "x floor (on / off)"], rows)


# ---------------------------------------------------------------- 2. graph and memory


def micrograd_graph_size(root) -> int:
    seen, stack = {root}, [root]
    while stack:
        for child in stack.pop()._prev:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return len(seen)


def graph_memory(build, count) -> tuple[int, int, int]:
    """(Values in the graph, bytes held after backward, bytes left after `del` without gc)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    loss = build()
    loss.backward()
    held = tracemalloc.get_traced_memory()[0] - before
    values = count(loss)
    del loss
    left = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    gc.collect()
    return values, held, left


def memory_rows(X, y) -> dict[str, tuple[int, int, int]]:
    from micrograd.engine import Value as MValue

    engines = demo_engines(X, y, compiled=False)  # the compiled step builds no graph
    mg, user, ours = (engines[name][1] for name in (MICROGRAD, USER, SUM_VALUES))
    n_params = len(mg.parameters())
    count = lambda root: len(topological_order(root))  # noqa: E731
    return {
        MICROGRAD: graph_memory(lambda: wl.user_loss(mg, X, y, MValue), micrograd_graph_size),
        USER: graph_memory(lambda: wl.user_loss(user, X, y), count),
        SUM_VALUES: graph_memory(lambda: wl.ours_loss(ours, X, y), count),
    }, n_params


def report_memory(mem, n_params) -> None:
    rows = []
    for name, (values, held, left) in mem.items():
        rows.append([name, f"{values:,}", f"{held / 2**20:.1f}",
                     f"{held / (values - n_params):.0f}", f"{left / 2**20:.1f}"])
    table(["graph of one step", "Values", "MiB after backward", "bytes/Value",
           "MiB left after del (no gc)"], rows)
    print("  (micrograd's nodes are reference cycles: only the cyclic collector frees them;\n"
          "  ours are freed on del -- what stays is CPython's tuple free lists)\n")


# ------------------------------------------------------------ 3. deep and wide graphs


def deep_chain(value_cls, n: int):
    def build():
        x = value_cls(1.0)
        v = x
        for _ in range(n):
            v = v + x
        return x, v
    return build, lambda x: x.grad == n + 1


def wide_sum(value_cls, add_all, n: int):
    def build():
        leaves = [value_cls(float(i)) for i in range(n)]
        return leaves, add_all(leaves)
    return build, lambda leaves: all(leaf.grad == 1.0 for leaf in leaves)


def build_and_backward(build, check) -> tuple[float, str]:
    """Seconds to build, and backward's seconds (or the error it raised)."""
    gc.collect()
    start = time.perf_counter()
    inputs, root = build()
    built = time.perf_counter() - start
    try:
        start = time.perf_counter()
        root.backward()
        outcome = f"{time.perf_counter() - start:.2f} s"
        if not check(inputs):
            outcome += " WRONG GRADIENT"
    except RecursionError:
        outcome = "RecursionError"
    del inputs, root
    gc.collect()
    return built, outcome


def big_graph_rows() -> list[list[str]]:
    from micrograd.engine import Value as MValue

    cases = [(f"chain of {n:,} adds", lambda cls, add_all, n=n: deep_chain(cls, n))
             for n in (100_000, 1_000_000)]
    cases.append(("sum of 1,000,000 leaves",
                  lambda cls, add_all: wide_sum(cls, add_all, 1_000_000)))
    rows = []
    for label, case in cases:
        row = [label]
        for cls, add_all in [(MValue, sum), (Value, sum_values)]:
            built, outcome = build_and_backward(*case(cls, add_all))
            row += [f"{built:.2f} s", outcome]
        rows.append(row)
    return rows


# ------------------------------------------------------- 4. debug hooks when switched off

HOOK_MODES = {  # hooks_child.py's argument -> row label
    "absent": "trace.py never imported",
    "off": "trace imported, detect_anomaly() off",
    "on": "inside detect_anomaly() (for scale)",
}


def hooks_rows() -> list[list[str]] | None:
    """Our demo step in fresh processes, modes interleaved; None before trace.py exists."""
    if importlib.util.find_spec("micrograd_ann.trace") is None:
        return None
    child = Path(__file__).with_name("hooks_child.py")
    runs = {mode: [] for mode in HOOK_MODES}
    for _ in range(3):
        for mode in HOOK_MODES:
            out = subprocess.run([sys.executable, str(child), mode],
                                 capture_output=True, text=True, check=True)
            runs[mode].append(float(out.stdout))
    absent = statistics.median(runs["absent"])
    rows = []
    for mode, label in HOOK_MODES.items():
        ms = statistics.median(runs[mode])
        rows.append([label, f"{ms:.2f}", f"{100 * (ms / absent - 1):+.1f} %"])
    return rows


# ------------------------------------------- 5. the plain engine, before and after

ENGINE_HISTORY = [  # (commit, what its engine was); each is measured in this run
    ("db978d4", "before the speed work (one dot per neuron, slots)"),
    ("e16635f", "folded neurons, zero-skipping (the last round's)"),
    (None, "the reference interpreter (this code)"),
]


def engine_rows() -> list[list[str]]:
    """Each engine of ENGINE_HISTORY timed by engine_child.py; a commit this clone lacks
    (a shallow clone, or no git) gets a row saying so."""
    root = ENGINE.parents[1]
    child = Path(__file__).with_name("engine_child.py")
    rows = []
    for commit, label in ENGINE_HISTORY:
        with tempfile.TemporaryDirectory() as tmp:
            package = root
            if commit is not None:
                try:
                    archive = subprocess.run(["git", "-C", str(root), "archive", commit,
                                              "micrograd_ann"], capture_output=True)
                except OSError:  # no git
                    archive = None
                if archive is None or archive.returncode != 0:
                    rows.append([label, commit, "not in this clone", "", ""])
                    continue
                subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
                package = Path(tmp)
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                [str(package), str(child.parent)])}
            out = subprocess.run([sys.executable, str(child)], env=env, capture_output=True,
                                 text=True, check=True)
            ms = json.loads(out.stdout)
            source = package / "micrograd_ann" / "engine.py"
            assert Path(ms["engine.py"]).resolve() == source.resolve(), ms["engine.py"]
            lines = sum(1 for _ in open(source, encoding="utf-8"))
        rows.append([label, commit or "HEAD", f"{ms['micrograd'] / ms['engine']:.1f}",
                     f"{ms['engine'] / ms['floor']:.1f}", str(lines)])
    return rows


# --------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    print(f"Python {platform.python_version()} ({platform.python_implementation()}), "
          f"CPU: {cpu_name()}, micrograd {importlib.metadata.version('micrograd')}\n")
    X, y = wl.moons()

    print("1. micrograd's demo step: MLP(2, [16, 16, 1]), 100 two-moons points, max-margin loss")
    ms, compile_seconds = demo_step_times(X, y)
    report_demo(ms)
    amortised = ms[COMPILED][True] + 1e3 * compile_seconds / 100
    compile_steps = 1e3 * compile_seconds / ms[USER][True]
    print(f"  compiling the step took {compile_seconds:.3f} s (median of {ROUNDS}), "
          f"{compile_steps:.1f} user-written steps: over 100 steps, "
          f"{amortised:.2f} ms/step ({amortised / ms[FLOOR][True]:.2f}x the floor)\n")
    print("  Headline, GC on, all measured side by side in this run:")
    table(["plain engine / micrograd", "compiled step / floor", "compile time / plain step"],
          [[f"{ms[MICROGRAD][True] / ms[USER][True]:.1f}x faster",
            f"{ms[COMPILED][True] / ms[FLOOR][True]:.2f}x the time",
            f"{compile_steps:.1f} steps"]])

    print("2. Graph size and memory of one step (tracemalloc, graph alive after backward)")
    mem, n_params = memory_rows(X, y)
    report_memory(mem, n_params)

    print("3. Deep and wide graphs: build, then backward (micrograd at its shipped "
          f"recursion limit, {sys.getrecursionlimit()})")
    big = big_graph_rows()
    table(["graph", "micrograd build", "backward", "micrograd_ann build", "backward"], big)

    hooks = hooks_rows()
    if hooks is not None:
        print("4. Debug hooks switched off: our demo step, ms/step with GC on (fresh processes)")
        table(["variant", "ms/step", "vs never imported"], hooks)

    mg, user, floor = (ms[name] for name in (MICROGRAD, USER, FLOOR))
    mg_mem, user_mem, ours_mem = (mem[name][1] for name in (MICROGRAD, USER, SUM_VALUES))
    ours_big = [row[4] for row in big[1:]]
    print("5. The plain engine before and after this round's rewrite: each engine.py in a fresh\n"
          "   process beside micrograd and the floor (micrograd's speed differs between\n"
          "   processes, so compare the x columns within a row)")
    table(["engine", "commit", "x micrograd", "x floor", "engine.py lines"], engine_rows())
    targets = [  # the plain engine is the reference; speed is the compiler's (issues 26, 28)
        (f"plain engine, user-written step >= 50x micrograd, GC on ({mg[True] / user[True]:.1f}x)",
         mg[True] / user[True] >= 50),
        (f"compiled step <= 0.5x the floor, GC on ({ms[COMPILED][True] / floor[True]:.2f}x; "
         f"with its compile time spread over 100 steps {amortised / floor[True]:.2f}x)",
         ms[COMPILED][True] <= 0.5 * floor[True]),
        (f"compiling the demo step takes <= 25 user-written plain steps ({compile_steps:.1f})",
         compile_steps <= 25),
        (f"user-written step <= 1/10 of micrograd's memory per step (1/{mg_mem / user_mem:.0f})",
         user_mem * 10 <= mg_mem),
        (f"sum_values step <= 1/10 of micrograd's memory per step (1/{mg_mem / ours_mem:.0f})",
         ours_mem * 10 <= mg_mem),
        (f"1M-deep chain and 1M-wide sum backward ({', '.join(ours_big)})",
         all(b.endswith(" s") and float(b[:-2]) < 5 for b in ours_big)),
    ]
    print("Targets")
    for text, ok in targets:
        print(f"  {verdict(ok)}  {text}")


if __name__ == "__main__":
    main()
