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
    x = task.inputs(task.teacher(KEY), KEY, N)
    eigenvalues, w = task.spectrum()
    np.testing.assert_allclose(jnp.var(x, axis=0), eigenvalues, rtol=0.02)
    k = np.arange(1, 21)
    np.testing.assert_allclose(w**2 * eigenvalues, k ** -(1 + 1.5 * 0.8), rtol=1e-5)
    y = task.targets(task.teacher(KEY), x)
    assert float(jnp.mean(y**2)) == pytest.approx(float(jnp.sum(w**2 * eigenvalues)), rel=0.02)


def test_circle_target_has_unit_variance_and_lies_on_the_circle():
    task = synthetic.Circle(n_modes=100, alpha=2.0, beta=0.5, dtype=jnp.float32)
    x = task.inputs(task.teacher(KEY), KEY, N)
    np.testing.assert_allclose(jnp.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    y = task.targets(task.teacher(KEY), x)
    assert float(jnp.var(y)) == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize("dim,degree", [(3, 1), (5, 2), (10, 3), (10, 0)])
def test_gegenbauer_target_has_unit_rms(dim, degree):
    task = synthetic.Gegenbauer(dim=dim, degree=degree, dtype=jnp.float32)
    x = task.inputs(task.teacher(KEY), KEY, N)
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
    x = task.inputs(task.teacher(KEY), KEY, 64)
    np.testing.assert_allclose(x.T @ x / 64, np.eye(8), atol=1e-4)
    assert float(jnp.linalg.norm(task.teacher(KEY))) == pytest.approx(2.0, rel=1e-5)


def test_cnn_teacher_targets_are_standardized_and_classes_balanced():
    from scaling.data import images

    task = images.CNNTeacher(size=8, channels=3, n_classes=None, dtype=jnp.float32)
    teacher = task.teacher(KEY)
    x = task.inputs(teacher, jax.random.key(1), 20_000)
    assert x.shape == (20_000, 8, 8, 3)
    y = task.targets(teacher, x)
    assert float(jnp.mean(y)) == pytest.approx(0.0, abs=0.05)
    assert float(jnp.std(y)) == pytest.approx(1.0, rel=0.05)
    classes = images.CNNTeacher(size=8, channels=3, n_classes=4, dtype=jnp.float32)
    labels = classes.targets(classes.teacher(KEY), x)
    assert labels.shape == (20_000, 4)
    np.testing.assert_allclose(labels.sum(1), 1.0)
    assert labels.mean(0).min() > 0.1  # no class is rare
    two = images.CNNTeacher(size=8, channels=3, n_classes=2, dtype=jnp.float32)
    signs = two.targets(two.teacher(KEY), x)
    assert signs.shape == (20_000, 1) and set(np.unique(signs)) == {-1.0, 1.0}


def test_markov_sequences_follow_their_chain_and_targets_are_next_token_distributions():
    from scaling.data import sequences

    task = sequences.Markov(vocab=6, context=50, order=1, alpha=1.5, dtype=jnp.float32)
    teacher = task.teacher(KEY)
    x = task.inputs(teacher, jax.random.key(1), 4000)
    assert x.shape == (4000, 50) and x.dtype == jnp.int32
    counts = np.zeros((6, 6))
    np.add.at(counts, (np.asarray(x[:, :-1]).ravel(), np.asarray(x[:, 1:]).ravel()), 1)
    transitions = np.exp(np.asarray(teacher[0]))
    np.testing.assert_allclose(counts / counts.sum(1, keepdims=True), transitions, atol=0.01)
    y = task.targets(teacher, x)
    assert y.shape == (4000, 50, 6)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(y[:, :-1], transitions[np.asarray(x[:, :-1])], rtol=1e-5)
    zipf = np.arange(1, 7) ** -1.5
    np.testing.assert_allclose(np.sort(transitions, axis=1)[:, ::-1], np.tile(zipf / zipf.sum(), (6, 1)), rtol=1e-5)


def test_markov_classes_are_labelled_by_the_chain_that_drew_them():
    from scaling.data import sequences

    task = sequences.MarkovClasses(vocab=8, context=32, order=2, alpha=1.5, n_classes=3, dtype=jnp.float32)
    teacher = task.teacher(KEY)
    chain = jnp.arange(3000) % 3
    x = sequences.sample(teacher, chain, jax.random.key(2), 32, order=2)
    labels = task.targets(teacher, x)
    assert labels.shape == (3000, 3)
    assert float(jnp.mean(jnp.argmax(labels, 1) == chain)) > 0.95  # the Bayes rule recovers the chain


def test_markov_chain_of_order_two_conditions_on_the_last_two_tokens():
    from scaling.data import sequences

    task = sequences.Markov(vocab=3, context=40, order=2, alpha=2.0, dtype=jnp.float32)
    teacher = task.teacher(KEY)
    x = np.asarray(task.inputs(teacher, jax.random.key(1), 4000))
    counts = np.zeros((9, 3))
    np.add.at(counts, (3 * x[:, :-2].ravel() + x[:, 1:-1].ravel(), x[:, 2:].ravel()), 1)
    np.testing.assert_allclose(counts / counts.sum(1, keepdims=True), np.exp(np.asarray(teacher[0])), atol=0.015)
    y = np.asarray(task.targets(teacher, jnp.asarray(x)))
    np.testing.assert_allclose(y[:, 0], 1 / 3)  # one token known: the next is uniform
    np.testing.assert_allclose(y[:, 5], np.exp(np.asarray(teacher[0]))[3 * x[:, 4] + x[:, 5]], rtol=1e-5)
