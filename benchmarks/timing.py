"""Wall-clock timing shared by the benchmark scripts."""

import time


def timed(fn, repeat: int = 1):
    """(fastest of `repeat` wall times in seconds, the last result). Baselines that take minutes run once."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out
