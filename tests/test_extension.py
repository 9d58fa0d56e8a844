"""Adding an architecture is one registration (issue 4): a model defined here, in the test
file, is swept through ``scaling run`` with no change anywhere else."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

import scaling
from scaling import cli, models
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
