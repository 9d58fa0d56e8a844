"""Closed-form predictions the sweeps are compared with (THEORY.md), in float64 numpy.

- ``spectra``: the task as eigenvalues λ_k and target power w̄_k²λ_k; D1, D2 (§0).
- ``ridge``: deterministic equivalents of ridge and linear random-feature regression (§1).
- ``dynamics``: the random-feature gradient-flow loss L(t, N, P) by 2-D Talbot inversion (§2).
- ``sgd``: online SGD on linear models, the exact mode recursion, stability and noise floor (§3).
- ``curves``: the theories a config can name (``theory.name``), on a sweep's own steps.
"""
