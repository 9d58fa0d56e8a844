import os
import tempfile

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["TFDS_DATA_DIR"] = tempfile.mkdtemp(prefix="scaling-tests-tfds-")  # digits is written here, not in ~
for _name in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):  # wandb's staging and settings, not in ~
    os.environ[_name] = tempfile.mkdtemp(prefix=f"scaling-tests-{_name.lower()}-")
if "PYTEST_XDIST_WORKER" not in os.environ:  # JAX's compilation cache, not in ~; the -n workers share the session's
    os.environ["SCALING_CACHE_DIR"] = tempfile.mkdtemp(prefix="scaling-tests-jax-cache-")

import jax  # noqa: E402
import pytest  # noqa: E402
import submitit  # noqa: E402,F401  (its logger writes to the sys.stderr of its import: import it before any test captures output)

X64_AT_START = jax.config.jax_enable_x64

from scaling import config as config_lib  # noqa: E402

TINY_CONFIG = '''
import ml_collections

def get_config():
    c = ml_collections.ConfigDict()
    c.model = dict(arch="mlp", depth=3, width=16, param="mup")
    c.data = dict(task="powerlaw", dim=8, batch_size=16, n_test=64, n_probe=8)
    c.optim = dict(name="sgd", lr=0.1)
    c.train = dict(steps=20, n_logs=6, segments=2)
    c.log = dict(progress=False)
    c.sweep = dict(model=dict(width=[8, 16], gamma=[0.5, 2.0]), optim=dict(lr=[0.1, 1e5]), train=dict(seed=[0, 1]))
    return c
'''


@pytest.fixture(autouse=True)
def restore_x64():
    """A float64 sweep turns on jax_enable_x64 for its whole process; the next test, whichever it
    is (tests run a file per core, in any order), starts with the process's own setting."""
    yield
    jax.config.update("jax_enable_x64", X64_AT_START)


_PROGRAMS = {}


@pytest.fixture(scope="module")
def reuse_programs():
    """One Program per distinct config in this process, so a module's in-process reruns of a
    sweep compile nothing again."""
    import json

    from scaling import train

    build = train.build

    def cached_build(values):
        key = json.dumps(values, sort_keys=True)  # values hold lists (log.wandb.tags)
        if key not in _PROGRAMS:
            _PROGRAMS[key] = build(values)
        return _PROGRAMS[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train, "build", cached_build)
        yield


@pytest.fixture
def tiny_config_file(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(TINY_CONFIG)
    return path


def values(**overrides):
    """A group's full config values: the defaults, small, with ``overrides`` ('model.width': 8, ...)."""
    base = dict(config_lib.resolve(config_lib.defaults()).values)
    base.update({
        "model.width": 16, "data.dim": 8, "data.batch_size": 16, "data.n_test": 64, "data.n_probe": 8,
        "train.steps": 20, "train.n_logs": 6, "train.segments": 2,
        "measure.ntk": False, "measure.features": False,  # each compiles its own call; on where tested
    })
    base.update(overrides)
    return base


def members(base, **axes):
    """Members of ``base`` with the vmapped fields in ``axes`` (e.g. optim__lr=[...]) crossed."""
    import itertools

    fields = {k.replace("__", "."): v for k, v in axes.items()}
    from scaling.train import member_fields

    out = []
    for combo in itertools.product(*fields.values()):
        out.append({p: base[p] for p in member_fields()} | dict(zip(fields, combo)))
    return out
