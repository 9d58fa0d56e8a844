"""Adding an architecture or a measurement is one registration: a model and a measurement
defined here, in the test file, are swept through ``scaling run`` with no change anywhere else."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

import scaling
from scaling import cli, config, measure, models
from scaling.log import records
from scaling.models.layers import Dense

CONFIG = '''
import ml_collections

def get_config():
    c = ml_collections.ConfigDict()
    c.model = dict(arch="gated_mlp_test", param="mup")
    c.data = dict(task="powerlaw", dim=8, batch_size=16, n_test=64, n_probe=8)
    c.train = dict(steps=30, n_logs=4, segments=1)
    c.measure = dict(ntk_every=[0, 30], features_every=[0, 30])
    c.log = dict(progress=False)
    c.sweep = dict(model=dict(width=[8, 16]), optim=dict(lr=[0.05, 0.1]))
    return c
'''


class GatedMLP(nn.Module):
    """f = w . (U x * sigmoid(V x / T)): roles decide everything, the framework does the rest.
    The temperature T is a parameter outside the parameterized layers: lr multiplier 1, and
    its NTK comes from per-example Jacobians."""

    width: int
    out_dim: int
    rules: object
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, x):
        value = Dense(self.width, "input", self.rules, dtype=self.dtype, name="value")(x)
        gate = Dense(self.width, "input", self.rules, dtype=self.dtype, name="gate")(x)
        temperature = self.param("temperature", nn.initializers.ones, (), self.dtype)
        h = value * jax.nn.sigmoid(gate / temperature)
        self.sow("features", "h", h)
        return Dense(self.out_dim, "readout", self.rules, dtype=self.dtype, name="readout")(h)


@pytest.fixture
def gated_mlp():
    models.register("gated_mlp_test", build=lambda v, out_dim, rules, dtype: GatedMLP(v["model.width"], out_dim, rules, dtype),
                    n_layers=lambda v: 2)
    yield
    del models.REGISTRY["gated_mlp_test"]


def test_a_model_registered_in_a_test_file_sweeps_through_scaling_run(gated_mlp, tmp_path):
    config = tmp_path / "gated.py"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    assert cli.main(["run", str(config), "--out", str(out), "--no-progress"]) == 0
    ds = scaling.load(out)
    assert dict(ds.sizes)["width"] == 2 and dict(ds.sizes)["lr"] == 2
    assert list(ds.param.values) == ["gate/w", "readout/w", "temperature", "value/w"]
    assert (ds.weight_change.sel(param="temperature").isel(feature_step=-1) > 0).all()
    assert list(ds.feature.values) == ["h"]
    loss = ds.test_loss.values
    assert np.isfinite(loss).all() and (loss[..., -1] < loss[..., 0]).all()
    assert np.isfinite(ds.ntk_eigenvalues).all() and (ds.ntk_distance.isel(ntk_step=-1) > 0).all()
    assert '"model.arch": "gated_mlp_test"' in ds.attrs["config"]  # the resolved config is recorded


MEASURED = CONFIG.replace('arch="gated_mlp_test", ', "").replace(
    "c.measure = dict(ntk_every=[0, 30], features_every=[0, 30])",
    "c.measure = dict(ntk=False, features=False, predictions_every=[0, 10, 30], output_size_every=[0, 10, 20, 30])")


def output_size(program, state, member, batch_loss):
    """The RMS of the member's output on the probe set, and its largest |output|."""
    f = program.predict_fixed(state, member, "probe")
    return {"output_rms": jnp.sqrt(jnp.mean(f**2)), "output_max": jnp.max(jnp.abs(f), axis=0)}


@pytest.fixture
def output_size_measurement():
    measure.register("output_size", "size_step", output_size, n_logs=4,
                     dims=lambda program: {"output_rms": [], "output_max": ["output"]})
    yield
    del measure.REGISTRY["output_size"]
    for path in [p for p in config.SCHEMA if p.startswith("measure.output_size")]:
        del config.SCHEMA[path]


def test_a_measurement_registered_in_a_test_file_is_in_the_results_and_the_wandb_records(output_size_measurement,
                                                                                         tmp_path):
    config_file = tmp_path / "measured.py"
    config_file.write_text(MEASURED)
    out = tmp_path / "out"
    assert cli.main(["run", str(config_file), "--out", str(out), "--no-progress"]) == 0
    ds = scaling.load(out)
    assert list(ds.size_step.values) == [0, 10, 20, 30]
    assert ds.output_rms.dims == ("width", "lr", "size_step") and ds.output_max.dims == ("width", "lr", "size_step", "output")
    assert (ds.output_rms.sel(size_step=0) == 0).all()  # a centred network starts at f = 0
    assert (ds.output_rms.sel(size_step=30) > 0).all()
    shared = ds.probe_pred.sel(pred_step=[10, 30]).rename(pred_step="size_step")  # the predictions measurement's
    np.testing.assert_allclose(ds.output_rms.sel(size_step=[10, 30]), np.sqrt((shared**2).mean("probe")), rtol=1e-5)
    np.testing.assert_allclose(ds.output_max.sel(size_step=[10, 30], output=0), np.abs(shared).max("probe"), rtol=1e-6)
    point = ds.isel(width=0, lr=1)
    rows = dict(records.history(point))
    assert [step for step in rows if "output_size/output_rms" in rows[step]] == [0, 10, 20, 30]
    assert rows[20]["output_size/output_rms"] == pytest.approx(float(point.output_rms.sel(size_step=20)))
    assert not any(name.startswith("output_size/output_max") for row in rows.values() for name in row)  # not a scalar
    assert "measure.output_size_every" in config.SCHEMA  # its fields came with it
