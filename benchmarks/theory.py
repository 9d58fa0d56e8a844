"""How fast is the theory?  L(t, N, P) of random features under gradient flow (THEORY.md §2) for
D = 1000 modes at 50 times, against a brute-force simulation of the same curve (one draw of
features and data, gradient flow solved exactly by one eigendecomposition), side by side.

    .venv/bin/python benchmarks/theory.py [--modes 1000] [--times 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from scaling.theory import dynamics, spectra


def best_of(repeats, fn):
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return min(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", type=int, default=1000)
    parser.add_argument("--times", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    spectrum = spectra.powerlaw(args.modes, 1.5, 0.8)
    t = np.logspace(0, 4, args.times)
    N, P = args.modes // 3, args.modes // 2
    theory = best_of(args.repeats, lambda: dynamics.rf_gf_loss(t, N, P, spectrum, 0.05))
    rng = np.random.default_rng(0)
    draw = best_of(args.repeats, lambda: dynamics.simulate(t, N, P, spectrum, 0.05, rng))
    print(f"L(t, N={N}, P={P}) for D = {args.modes} modes at {args.times} times, best of {args.repeats}:")
    print(f"  theory (2-D Talbot, M = {dynamics.TALBOT_NODES})   {theory:7.3f} s")
    print(f"  one simulated draw (exact flow)    {draw:7.3f} s")
    print(f"  theory / one draw                  {theory / draw:7.2f}   (the theory stands for the mean over many draws)")


if __name__ == "__main__":
    main()
