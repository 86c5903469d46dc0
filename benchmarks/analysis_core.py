"""Benchmark of the survey-statistics core at production size.

100,000 respondents, 80 items (70 proportions, 10 means, about 10 % not answered),
10 group variables with 50 categories in all, raking on 3 variables. Runs raking, all
estimates, Rao-Scott tests, group-vs-rest comparisons, reach indices and suppression, and
prints the wall time and the peak memory (tracemalloc peak of Python/numpy allocations, and
the process's maximum resident set size).

Run: .venv/bin/python benchmarks/analysis_core.py
"""

from __future__ import annotations

import resource
import time
import tracemalloc

import numpy as np
import pandas as pd

from surveyapp.analysis import (
    SurveyDesign,
    group_vs_rest,
    rake,
    rao_scott_tests,
    reach_indices,
    suppress_estimates,
    table_estimates,
    tabulate,
)

N_RESPONDENTS = 100_000
N_PROPORTIONS = 70
N_MEANS = 10
GROUP_SIZES = (2, 3, 4, 5, 5, 6, 6, 6, 6, 7)  # 50 categories
RAKING_SIZES = {"region": 5, "age": 4, "sex": 2}


def synthetic_survey(seed: int = 20240601) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(respondent frame with raking variables and use, items, groups)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.integers(0, size, N_RESPONDENTS) for name, size in RAKING_SIZES.items()})
    frame["base_weight"] = rng.uniform(0.5, 3.0, N_RESPONDENTS)
    frame["user"] = rng.random(N_RESPONDENTS) < 0.4
    groups = pd.DataFrame(
        {
            f"group{index}": pd.Series(rng.integers(0, size, N_RESPONDENTS), dtype="float")
            for index, size in enumerate(GROUP_SIZES)
        }
    )
    groups = groups.mask(rng.random(groups.shape) < 0.02)  # 2 % unknown group
    propensity = rng.uniform(0.1, 0.9, N_PROPORTIONS)
    items = {f"p{k}": (rng.random(N_RESPONDENTS) < propensity[k]).astype(float) for k in range(N_PROPORTIONS)}
    items.update({f"m{k}": rng.integers(1, 6, N_RESPONDENTS).astype(float) for k in range(N_MEANS)})
    item_frame = pd.DataFrame(items)
    item_frame = item_frame.mask(rng.random(item_frame.shape) < 0.1)  # 10 % not answered
    return frame, item_frame, groups


def population_margins(frame: pd.DataFrame) -> dict[str, dict[int, float]]:
    """Margins slightly off the sample's own distribution, so raking has work to do."""
    rng = np.random.default_rng(7)
    total = 2_000_000.0
    result = {}
    for name, size in RAKING_SIZES.items():
        shares = rng.dirichlet(np.full(size, 20.0))
        result[name] = {category: float(total * shares[category]) for category in range(size)}
    return result


def run_analysis(frame: pd.DataFrame, items: pd.DataFrame, groups: pd.DataFrame) -> dict[str, int]:
    """The full analysis of one wave; returns how many results of each kind it produced."""
    raking = rake(frame, frame["base_weight"], population_margins(frame))
    design = SurveyDesign.from_raking(raking)
    kinds = {name: ("mean" if name.startswith("m") else "proportion") for name in items.columns}
    table = tabulate(design, items, groups, kinds=kinds)  # type: ignore[arg-type]
    estimates = table_estimates(table, ci_method="logit")
    published, _plan = suppress_estimates(estimates, threshold=10)
    tests = rao_scott_tests(table, adjust="fdr_bh")
    comparisons = group_vs_rest(table, adjust="holm")
    register = {
        name: {float(c): 1.0 / size for c in range(size)}
        for name, size in zip(groups.columns, GROUP_SIZES, strict=True)
    }
    reach = reach_indices(design, frame["user"], groups, register)
    return {
        "estimates": len(published),
        "rao_scott": len(tests),
        "comparisons": len(comparisons),
        "reach": len(reach),
        "raking_sweeps": raking.iterations,
    }


def main() -> None:
    frame, items, groups = synthetic_survey()
    run_analysis(frame, items, groups)  # warm-up: imports, first-call overheads
    timings, cpu_times = [], []
    for _ in range(5):
        start, cpu_start = time.perf_counter(), time.process_time()
        counts = run_analysis(frame, items, groups)
        timings.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    tracemalloc.start()
    run_analysis(frame, items, groups)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"respondents={N_RESPONDENTS} items={items.shape[1]} groups={groups.shape[1]} "
        f"categories={sum(GROUP_SIZES)} raking_vars={len(RAKING_SIZES)}"
    )
    print("results:", counts)
    print(f"wall time: best {min(timings):.2f} s, median {sorted(timings)[2]:.2f} s (5 runs)")
    print(f"CPU time: best {min(cpu_times):.2f} s, median {sorted(cpu_times)[2]:.2f} s (all threads)")
    print(f"peak traced memory during one analysis: {peak / 2**20:.0f} MiB")
    print(f"process max RSS (data + libraries + analysis): {max_rss_mb:.0f} MiB")


if __name__ == "__main__":
    main()
