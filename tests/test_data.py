"""Synthetic tasks: the statistics THEORY.md defines them by."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scaling.data import synthetic

KEY = jax.random.key(0)
N = 200_000


def test_powerlaw_features_and_target_spectrum():
    task = synthetic.PowerLaw(dim=20, alpha=1.5, beta=0.8, dtype=jnp.float32)
    x = task.inputs(KEY, N)
    eigenvalues, w = task.spectrum()
    np.testing.assert_allclose(jnp.var(x, axis=0), eigenvalues, rtol=0.02)
    k = np.arange(1, 21)
    np.testing.assert_allclose(w**2 * eigenvalues, k ** -(1 + 1.5 * 0.8), rtol=1e-5)
    y = task.targets(task.teacher(KEY), x)
    assert float(jnp.mean(y**2)) == pytest.approx(float(jnp.sum(w**2 * eigenvalues)), rel=0.02)


def test_circle_target_has_unit_variance_and_lies_on_the_circle():
    task = synthetic.Circle(n_modes=100, alpha=2.0, beta=0.5, dtype=jnp.float32)
    x = task.inputs(KEY, N)
    np.testing.assert_allclose(jnp.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    y = task.targets(task.teacher(KEY), x)
    assert float(jnp.var(y)) == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize("dim,degree", [(3, 1), (5, 2), (10, 3), (10, 0)])
def test_gegenbauer_target_has_unit_rms(dim, degree):
    task = synthetic.Gegenbauer(dim=dim, degree=degree, dtype=jnp.float32)
    x = task.inputs(KEY, N)
    np.testing.assert_allclose(jnp.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    y = task.targets(task.teacher(KEY), x)
    assert float(jnp.sqrt(jnp.mean(y**2))) == pytest.approx(1.0, rel=0.02)


def test_gegenbauer_recurrence_matches_scipy():
    from scipy import special

    t = np.linspace(-1, 1, 11)
    for degree in range(5):
        np.testing.assert_allclose(synthetic.gegenbauer(degree, 1.5, jnp.asarray(t)),
                                   special.eval_gegenbauer(degree, 1.5, t), rtol=1e-5, atol=1e-5)


def test_whitened_inputs_and_teacher_norm():
    task = synthetic.Whitened(dim=8, signal=2.0, dtype=jnp.float32)
    x = task.inputs(KEY, 64)
    np.testing.assert_allclose(x.T @ x / 64, np.eye(8), atol=1e-4)
    assert float(jnp.linalg.norm(task.teacher(KEY))) == pytest.approx(2.0, rel=1e-5)
