"""The empirical NTK against brute force, the one-step function change, the RF kernel and
derived quantities on constructed kernels."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import members, values

from scaling import models, train, trees
from scaling.measure import ntk as ntk_lib
from scaling.measure import spectrum
from scaling.parameterization import Parameterization


def _member_state(base, **fields):
    """A built program, one member's values (with lr_effective) and its initial state, unbatched."""
    trainer = train.build(base)
    program = trainer.program
    member = train.with_effective_lr(program, members(base, **fields))[:1]
    arrays = train.member_arrays(program, member)
    state = jax.tree.map(lambda a: a[0], trainer.init_fn()(arrays))
    return program, jax.tree.map(lambda a: a[0], arrays), state


def _brute_force_ntk(program, state, gamma, x):
    """K = J J^T with J = jax.jacobian of the centred output (f - f0) / gamma, all outputs traced."""
    f0 = program.apply(state["params0"], state, x)
    jacobian = jax.jacobian(lambda p: (program.apply(p, state, x) - f0) / gamma)(state["params"])
    flat = jnp.concatenate([j.reshape(x.shape[0] * j.shape[1], -1) for j in jax.tree.leaves(jacobian)], axis=1)
    full = (flat @ flat.T).reshape(x.shape[0], -1, x.shape[0], flat.shape[0] // x.shape[0])
    return jnp.einsum("pcqc->pq", full)


@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-5), ("float64", 1e-10)])
@pytest.mark.parametrize("arch", ["mlp", "rf", "deep_linear"])
@pytest.mark.parametrize("param", ["sp", "ntk", "mup"])
def test_ntk_equals_brute_force_jacobian_kernel(arch, param, dtype, rtol):
    with jax.enable_x64(dtype == "float64"):
        base = values(**{"model.arch": arch, "model.param": param, "train.dtype": dtype, "model.bias": arch == "mlp",
                         "model.gamma": 0.5})
        program, member, state = _member_state(base)
        state = {**state, "params": jax.tree.map(lambda p: p * 1.1, state["params"])}  # away from init
        kernel = ntk_lib.measure(program, state, member, None)["ntk"]
        expected = _brute_force_ntk(program, state, 0.5, program.stream.probe[0])
        assert kernel.dtype == jnp.dtype(dtype)
        np.testing.assert_allclose(kernel, expected, rtol=rtol, atol=rtol * float(jnp.abs(expected).max()))


def test_full_and_traced_kernels_of_a_multi_output_model_equal_brute_force():
    base = values(**{"model.bias": True})
    program, _, state = _member_state(base)
    model = models.REGISTRY["mlp"].build(base, 3, Parameterization("mup", "sgd"), jnp.float32)
    x = program.stream.probe[0]
    params = model.init(jax.random.key(1), x, mutable=["params"])["params"]
    variables = {"params": params}
    jacobian = jax.jacobian(lambda p: model.apply({"params": p}, x))(params)
    flat = jnp.concatenate([j.reshape(x.shape[0], 3, -1) for j in jax.tree.leaves(jacobian)], axis=2)
    expected = jnp.einsum("pcn,qdn->pcqd", flat, flat)
    full = sum(ntk_lib.leaf_kernels(model, variables, x, full=True).values())
    traced = sum(ntk_lib.leaf_kernels(model, variables, x, full=False).values())
    scale = float(jnp.abs(expected).max())
    np.testing.assert_allclose(full, expected, rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(traced, jnp.einsum("pcqc->pq", expected), rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("param", ["sp", "ntk", "mup"])
def test_lr_weighted_kernel_predicts_the_one_step_change(param):
    """f(theta - eta grad L) - f(theta) = -K_eta r / B + O(eta^2), r = dl/df = 2 (f - y) for 'mse'."""
    with jax.enable_x64(True):
        batch = 16
        base = values(**{"model.param": param, "train.dtype": "float64", "data.n_train": batch,
                         "data.batch_size": batch, "model.bias": True, "model.gamma": 0.5})
        program, member, state = _member_state(base, optim__lr=[1e-4 if param != "mup" else 1e-6])
        x, y = state["data"]["train"]
        before = program.predict(state, member, x)
        after = program.predict(program.step(state, member, 0)[0], member, x)
        leaves = ntk_lib.leaf_kernels(program.model, program.variables(state), x)
        lr = {path: member["lr_effective"] * scale for path, scale in trees.flatten(state["lr_scale"]).items()}
        k_eta = ntk_lib.kernels(leaves, lr, member["model.gamma"])["ntk_lr"]
        predicted = -k_eta @ (2 * (before - y)) / batch
        change = after - before
        assert float(jnp.linalg.norm(change - predicted) / jnp.linalg.norm(change)) < 1e-3


def test_rf_ntk_is_its_analytic_kernel():
    """Under NTK parameterization f = w . (A x) / sqrt(N): K = x A A^T x'^T / (N gamma^2) -> x x'^T / gamma^2."""
    for width, tolerance in ((64, None), (16384, 0.05)):
        base = values(**{"model.arch": "rf", "model.param": "ntk", "model.width": width, "model.gamma": 2.0})
        program, member, state = _member_state(base)
        x = program.stream.probe[0]
        kernel = ntk_lib.measure(program, state, member, None)["ntk"]
        features = x @ state["frozen"]["A"]
        np.testing.assert_allclose(kernel, features @ features.T / (width * 4.0), rtol=1e-5, atol=1e-6)
        if tolerance:
            limit = x @ x.T / 4.0
            assert float(jnp.linalg.norm(kernel - limit) / jnp.linalg.norm(limit)) < tolerance


# ---------------------------------------------------------------- derived quantities on constructed kernels
def _constructed(n=40, seed=0):
    rng = np.random.default_rng(seed)
    vectors, _ = np.linalg.qr(rng.normal(size=(n, n)))
    eigenvalues = np.sort(rng.uniform(0.1, 5.0, n))[::-1] * np.arange(1, n + 1) ** -1.0
    coefficients = rng.normal(size=n)
    kernel = (vectors * eigenvalues) @ vectors.T
    return kernel, eigenvalues, vectors @ coefficients, coefficients


def test_eigenvalues_and_target_power_of_a_constructed_kernel():
    kernel, eigenvalues, y, c = _constructed()
    values_, power = spectrum.eigen(jnp.asarray(kernel), jnp.asarray(y)[:, None])
    np.testing.assert_allclose(values_, eigenvalues, rtol=1e-4)
    np.testing.assert_allclose(power, np.cumsum(c**2) / np.sum(c**2), rtol=1e-4, atol=1e-6)
    top, top_power = spectrum.eigen(jnp.asarray(kernel), jnp.asarray(y)[:, None], top_k=5)
    np.testing.assert_allclose(top, eigenvalues[:5], rtol=1e-3)
    np.testing.assert_allclose(top_power, power[:5], rtol=1e-3, atol=1e-5)


def test_alignment_and_distance_of_constructed_kernels():
    kernel, eigenvalues, y, c = _constructed()
    expected = np.sum(eigenvalues * c**2) / (np.linalg.norm(eigenvalues) * np.sum(c**2))
    np.testing.assert_allclose(spectrum.alignment(jnp.asarray(kernel), jnp.asarray(y)), expected, rtol=1e-5)
    centred_y = y - y.mean()
    target_kernel = np.outer(centred_y, centred_y) + 3.0  # the target's own kernel plus a constant
    assert spectrum.alignment(jnp.asarray(target_kernel), jnp.asarray(centred_y)) < 0.9
    np.testing.assert_allclose(spectrum.alignment(jnp.asarray(target_kernel), jnp.asarray(centred_y), centered=True),
                               1.0, rtol=1e-5)
    assert abs(spectrum.cosine_distance(jnp.asarray(kernel), jnp.asarray(2 * kernel))) < 1e-6
    orthogonal = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    np.testing.assert_allclose(spectrum.cosine_distance(*map(jnp.asarray, orthogonal)), 1.0)


# ---------------------------------------------------------------- silent alignment (THEORY.md section 8)
@pytest.mark.slow
def test_silent_alignment_of_a_two_layer_linear_network(tmp_path):
    """f = a^T W x from small init on whitened data, full-batch GD.  The NTK aligns with the
    target at t1 = O(1/s) while the loss has not moved; the loss halves at
    t2 = (1/2s) ln(s / (N sigma^2)) (Saxe et al. solution; Atanasov, Bordelon & Pehlevan 2022).

    Under SP with D = N every weight is N(0, sigma^2) with N sigma^2 = init_scale^2.  Time is
    t = 2 eta step: the framework's loss, mean (f - y)^2, is twice the 1/2-convention loss."""
    import scaling

    dim = width = 25
    signal, lr, scales = 2.0, 0.01, [1e-2, 1e-3, 1e-4]
    config = {
        "model": {"arch": "deep_linear", "depth": 2, "width": width, "param": "sp", "center": False},
        "data": {"task": "whitened", "dim": dim, "signal": signal, "n_train": 100, "batch_size": 100,
                 "n_probe": 100, "n_test": 100},
        "optim": {"lr": lr},
        "train": {"steps": 320, "n_logs": 161, "log_spacing": "linear", "segments": 1, "dtype": "float64"},
        "measure": {"ntk_every": 8, "predictions": False, "features": False, "ntk_kernels": False},
        "log": {"progress": False, "report": False},
        "sweep": {"model": {"init_scale": scales}},
    }
    ds = scaling.load(scaling.run(config, tmp_path / "silent"))
    align_times = []
    for scale in scales:
        run = ds.sel(init_scale=scale)
        loss, steps = run.train_loss.values, run.step.values
        alignment, ntk_steps = run.ntk_alignment.values, run.ntk_step.values
        rise = alignment - alignment[0]
        assert rise[-1] > 0.15, (scale, alignment)  # 1/sqrt(D) = 0.2 -> 2/sqrt(D + 3) = 0.38
        t1 = ntk_steps[np.argmax(rise >= 0.9 * rise[-1])]
        assert np.interp(t1, steps, loss) > 0.95 * loss[0], (scale, t1)  # aligned before the loss moves
        half = 2 * lr * steps[np.argmax(loss <= loss[0] / 2)]
        predicted = np.log(signal / scale**2) / (2 * signal)
        assert abs(half / predicted - 1) < 0.1, (scale, half, predicted)
        align_times.append(t1)
    assert max(align_times) / min(align_times) < 1.15, align_times
