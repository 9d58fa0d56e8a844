"""Closed-form predictions the sweeps are compared with (THEORY.md), in float64 numpy.

- ``spectra``: the task as eigenvalues λ_k and target power w̄_k²λ_k; D1, D2 (§0).
- ``ridge``: deterministic equivalents of ridge and linear random-feature regression (§1).
- ``dynamics``: the random-feature gradient-flow loss L(t, N, P) by 2-D Talbot inversion (§2).
- ``sgd``: online SGD on linear models, the exact mode recursion, stability and noise floor (§3).
- ``learning_rate``: η*(γ) rules and the scalar-chain toy model (§4).
- ``feature_learning``: rich and lazy time exponents, task classes and the mode ODE (§5).
- ``width``: the 1/N variance and bias of finite width (§6).
- ``onset``: the variance-limited onset P* ∝ √N and its toy model (§7).
- ``alignment``: silent-alignment timescales of two-layer linear networks (§8).
- ``fit``: power laws with confidence intervals over a window.
- ``curves``: the theories a config can name (``theory.name``), on a sweep's own steps.
"""
