"""Real datasets through TFDS, offline: TFDS mock data, a dataset written here in TFDS format
and loaded by name, and scikit-learn's digits.  Shapes, dtypes, standardization, class
subsets, determinism, the online protocol's order, streaming equal to on-device, resumption."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from scaling import config as config_lib
from scaling import checks, train
from scaling.data import datasets

N_IDS = 300  # examples of the locally written dataset


class ScalingIdImages(tfds.core.GeneratorBasedBuilder):
    """4x4x3 images whose pixels spell the example's id (red = id % 256, green = id // 256),
    labels id % 5: every example is recognisable from its pixels."""

    VERSION = tfds.core.Version("1.0.0")
    url_infos = None

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(4, 4, 3)), "label": tfds.features.ClassLabel(num_classes=5)}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, N_IDS), "test": self._generate_examples(N_IDS, N_IDS + 50)}

    def _generate_examples(self, start, stop):
        for i in range(start, stop):
            image = np.zeros((4, 4, 3), np.uint8)
            image[..., 0], image[..., 1], image[..., 2] = i % 256, i // 256, 7 * (i % 5)
            yield i, {"image": Image.fromarray(image), "label": i % 5}


@pytest.fixture(scope="module")
def local_dir(tmp_path_factory):
    """A data directory holding the id dataset and the digits, both in TFDS ArrayRecord format."""
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    ScalingIdImages(data_dir=data_dir, file_format="array_record").download_and_prepare()
    return data_dir


def values(**overrides):
    base = {"model": {"arch": "mlp", "width": 16, "depth": 2},
            "data": {"task": "tfds", "name": "scaling_id_images", "batch_size": 8, "n_test": 40, "n_probe": 8},
            "train": {"steps": 20, "n_logs": 4}, "measure": {"ntk": False, "features": False, "predictions": False},
            "log": {"progress": False, "report": False}}
    for path, value in overrides.items():
        section, field = path.split(".")
        base[section][field] = value
    resolved = checks.resolve(base)
    return resolved.values


def ids(x):
    """Example ids of raw id images (n, 4, 4, 3) uint8."""
    return np.asarray(x[:, 0, 0, 0], np.int64) + 256 * np.asarray(x[:, 0, 0, 1], np.int64)


def test_local_tfds_dataset_loads_by_name_standardized_with_its_labels(local_dir):
    trainer = train.build(values(**{"data.data_dir": local_dir}))
    program = trainer.program
    stream = program.stream
    assert stream.kind == "image" and stream.out_dim == 5 and not stream.streamed
    x, y = stream.test
    assert x.shape == (40, 4, 4, 3) and x.dtype == np.float32 and y.shape == (40, 5)
    raw = stream.dataset.test.read(datasets.task_order(50, 0)[:40])
    np.testing.assert_array_equal(np.argmax(y, 1), ids(raw["x"]) % 5)  # labels follow their images
    train_x = np.asarray(stream.dataset.inputs(stream.train_arrays, np.float32), np.float64)  # every training image
    np.testing.assert_allclose(train_x.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(train_x.std(axis=(0, 1, 2)), 1, rtol=1e-4)
    np.testing.assert_array_equal(stream.probe[0], x[:8])  # the probe set is the test set's start


def test_class_subset_is_relabelled_and_two_classes_give_a_scalar_target(local_dir):
    stream = train.build(values(**{"data.data_dir": local_dir, "data.classes": [3, 1], "train.steps": 5,
                                    "data.n_test": 20})).program.stream
    raw = stream.train_arrays
    assert set(ids(raw["x"]) % 5) == {1, 3} and len(raw["x"]) == N_IDS * 2 // 5
    np.testing.assert_array_equal(raw["label"], np.where(ids(raw["x"]) % 5 == 3, 0, 1))  # in the order given
    assert stream.out_dim == 1 and set(np.unique(stream.test[1])) == {-1.0, 1.0}
    three = train.build(values(**{"data.data_dir": local_dir, "data.classes": [0, 2, 4], "train.steps": 5,
                                    "data.n_test": 30})).program.stream
    assert three.out_dim == 3 and three.test[1].shape == (30, 3)


def test_online_order_never_repeats_and_streaming_feeds_the_same_examples(local_dir):
    base = values(**{"data.data_dir": local_dir, "train.steps": 30})
    device = train.build(base).program.stream
    order = np.asarray(device.member_data(0, 0.0)["order"])
    member = {"data.seed": 0, "data.noise": 0.0}
    seen = np.concatenate([ids(np.asarray(device.train_arrays["x"])[order[t * 8:(t + 1) * 8]]) for t in range(31)])
    assert len(set(seen)) == len(seen) == 31 * 8
    streamed = train.build(base | {"data.storage": "stream"}).program.stream
    assert streamed.streamed
    loader = streamed.loader([0, 1])
    block = loader.block(31)
    np.testing.assert_array_equal(ids(block["x"][:31, 0].reshape(-1, 4, 4, 3)), seen)
    assert not np.array_equal(block["x"][:31, 1], block["x"][:31, 0])  # another seed, another order
    x_device, _ = device.batch(device.member_data(0, 0.0), member, 3)
    x_stream, _ = streamed.batch({}, member, 3, rows={k: v[3, 0] for k, v in block.items()})
    np.testing.assert_array_equal(x_device, x_stream)


def test_a_resumed_loader_continues_on_the_same_examples(local_dir):
    stream = train.build(values(**{"data.data_dir": local_dir, "data.storage": "stream"})).program.stream
    loader = stream.loader([0, 5])
    loader.block(7)
    position = loader.state()
    expected = loader.block(4)
    resumed = stream.loader([0, 5], states=position)
    np.testing.assert_array_equal(resumed.block(4)["x"], expected["x"])
    assert json.dumps(position)  # a position is plain data a checkpoint can store


def test_streamed_and_on_device_training_agree(local_dir, monkeypatch):
    base = values(**{"data.data_dir": local_dir, "train.steps": 25})
    sweep_members = [{"model.gamma": 1.0, "model.init_scale": 1.0, "data.seed": s, "data.noise": n, "train.seed": 0,
                      "optim.lr": 0.5, "optim.momentum": 0.0, "optim.weight_decay": 0.0, "optim.b1": 0.9,
                      "optim.b2": 0.999, "optim.eps": 1e-8} for s, n in [(0, 0.0), (1, 0.1), (0, 0.1)]]
    on_device = train.run(train.build(base), sweep_members)
    example_bytes = 4 * 4 * 3 + 4
    monkeypatch.setattr(datasets, "BLOCK_BYTES", 3 * example_bytes * 8 * 2)  # blocks of 3 steps for 2 seeds
    streamed = train.run(train.build(base | {"data.storage": "stream"}), sweep_members)
    np.testing.assert_allclose(streamed["train_loss"], on_device["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(streamed["test_loss"], on_device["test_loss"], rtol=1e-5)
    assert on_device["test_loss"][:, -1].max() < on_device["test_loss"][:, 0].min()


def test_a_streamed_sweep_stopped_mid_way_resumes_at_its_data_position(local_dir, tmp_path, monkeypatch):
    import signal

    import scaling
    from scaling import checkpoint
    from scaling.errors import Stopped

    example_bytes = 4 * 4 * 3 + 4
    monkeypatch.setattr(datasets, "BLOCK_BYTES", 3 * example_bytes * 8 * 2)  # blocks of 3 steps for 2 seeds
    config = {"model": {"arch": "mlp", "width": 16, "depth": 2},
              "data": {"task": "tfds", "name": "scaling_id_images", "data_dir": local_dir, "storage": "stream",
                       "batch_size": 8, "n_test": 40, "n_probe": 8},
              "train": {"steps": 30, "n_logs": 4, "segments": 3}, "checkpoint": {"every_steps": 7},
              "measure": {"ntk": False, "features": False}, "log": {"progress": False, "report": False},
              "sweep": {"data": {"seed": [0, 1]}, "optim": {"lr": [0.2, 0.5]}}}
    whole = scaling.load(scaling.run(config, tmp_path / "whole"))
    save, saves = checkpoint.GroupCheckpoints.save, []

    def save_then_stop(self, members, snapshot):  # SIGTERM after the second save
        save(self, members, snapshot)
        saves.append(snapshot)
        if len(saves) == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(checkpoint.GroupCheckpoints, "save", save_then_stop)
    with pytest.raises(Stopped):
        scaling.run(config, tmp_path / "stopped")
    monkeypatch.setattr(checkpoint.GroupCheckpoints, "save", save)
    assert [s.step for s in saves[:2]] == [7, 14] and saves[2].step > 14  # the signal's save at the next stop
    assert len(saves[2].data_position) == 2  # grain's position in each data seed's order
    resumed = scaling.load(scaling.run(config, tmp_path / "stopped"))
    for name in whole.data_vars:
        np.testing.assert_array_equal(resumed[name].values, whole[name].values, err_msg=name)


def test_finite_training_set_is_a_fixed_seed_subsample(local_dir):
    stream = train.build(values(**{"data.data_dir": local_dir, "data.n_train": 50, "data.batch_size": 10})).program.stream
    a, b, other = (stream.member_data(seed, 0.0)["train"] for seed in (4, 4, 5))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape == (50, 4, 4, 3) and not np.array_equal(a[0], other[0])


@pytest.mark.parametrize("overrides,field,text", [
    ({"data.name": "mnist"}, "data.name", "tfds build mnist"),
    ({"data.name": "no_such_dataset_xyz"}, "data.name", "tfds build"),
    ({"data.train_split": "trian"}, "data.train_split", "a split of scaling_id_images"),
    ({"data.classes": [1, 7]}, "data.classes", "labels in 0..4"),
    ({"train.steps": 40}, "train.steps", "<= 36 for the online protocol"),
    ({"data.n_train": 301}, "data.n_train", "<= 300"),
    ({"data.n_train": 100, "data.storage": "stream"}, "data.storage", "the P training points are held on the device"),
    ({"data.n_test": 60}, "data.n_test", "<= 50"),
    ({"data.name": None}, "data.name", "a TFDS dataset name"),
    ({"model.arch": "transformer"}, "model.arch", "an architecture for image inputs"),
])
def test_bad_dataset_configs_fail_before_compute_naming_the_field(local_dir, overrides, field, text):
    with pytest.raises(config_lib.ConfigError) as error:
        values(**({"data.data_dir": local_dir} | overrides))
    assert error.value.field == field and text in str(error.value)


def test_an_unprepared_dataset_is_one_clear_line_from_the_cli(tmp_path):
    config = tmp_path / "c.py"
    config.write_text("def get_config():\n    return {'data': {'task': 'tfds', 'name': 'cifar10', "
                      f"'data_dir': {str(tmp_path / 'empty')!r}}}}}\n")
    out = subprocess.run([sys.executable, "-m", "scaling.cli", "run", str(config), "--out", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=120, env=os.environ | {"WANDB_MODE": "disabled"})
    assert out.returncode == 2
    assert "data.name = 'cifar10'" in out.stderr and "tfds build cifar10" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "run").exists()


# ---------------------------------------------------------------- TFDS mock data, same code path
@pytest.mark.parametrize("name,shape,classes", [("mnist", (28, 28, 1), 10), ("cifar10", (32, 32, 3), 10),
                                                ("cifar100", (32, 32, 3), 100), ("fashion_mnist", (28, 28, 1), 10),
                                                ("imagenet_resized/32x32", (32, 32, 3), 1000)])
def test_mock_image_datasets_build_with_their_shapes(name, shape, classes):
    with tfds.testing.mock_data(num_examples=64, policy=tfds.testing.MockPolicy.USE_CODE):
        datasets.load.cache_clear()
        stream = train.build(values(**{"data.name": name, "data.n_test": 32, "train.steps": 5})).program.stream
        assert stream.test[0].shape == (32, *shape) and stream.out_dim == classes
        assert stream.train_arrays["x"].dtype == np.uint8 and stream.train_arrays["x"].shape == (64, *shape)
    datasets.load.cache_clear()


def test_mock_mnist_trains_streamed_and_on_device_alike():
    with tfds.testing.mock_data(num_examples=128, policy=tfds.testing.MockPolicy.USE_CODE):
        datasets.load.cache_clear()
        base = values(**{"data.name": "mnist", "train.steps": 6, "train.loss": "xent"})
        members = _members(2)
        device = train.run(train.build(base), members)
        streamed = train.run(train.build(base | {"data.storage": "stream"}), members)
    datasets.load.cache_clear()
    np.testing.assert_allclose(streamed["test_loss"], device["test_loss"], rtol=1e-5)
    assert np.isfinite(device["test_loss"]).all()


def test_mock_text_corpus_gives_byte_and_character_windows():
    with tfds.testing.mock_data(num_examples=20, policy=tfds.testing.MockPolicy.USE_CODE):
        for tokens in ("byte", "char"):
            datasets.load.cache_clear()
            base = values(**{"data.name": "tiny_shakespeare", "model.arch": "transformer", "model.width": 8,
                             "model.heads": 2, "model.depth": 1, "data.tokens": tokens, "data.context": 6,
                             "data.batch_size": 2, "train.steps": 2, "data.n_test": 4, "data.n_probe": 2,
                             "train.loss": "xent"})
            trainer = train.build(base)
            program = trainer.program
            x, y = program.stream.test
            data = program.stream.dataset
            assert data.kind == "language" and x.shape == (4, 6) and y.shape == (4, 6, data.n_outputs)
            np.testing.assert_array_equal(np.argmax(y, -1)[:, :-1], x[:, 1:])  # next-token targets
            assert data.n_outputs == 256 if tokens == "byte" else data.n_outputs < 256
            assert program.model.vocab == data.n_outputs
            assert np.isfinite(train.run(trainer, _members(1))["test_loss"]).all()
    datasets.load.cache_clear()


def _members(n):
    return [{"model.gamma": 1.0, "model.init_scale": 1.0, "data.seed": 0, "data.noise": 0.0, "train.seed": s,
             "optim.lr": 0.1, "optim.momentum": 0.0, "optim.weight_decay": 0.0, "optim.b1": 0.9, "optim.b2": 0.999,
             "optim.eps": 1e-8} for s in range(n)]


# ---------------------------------------------------------------- digits
def test_digits_is_written_once_in_tfds_format_and_read_as_a_dataset(tmp_path):
    base = {"data.task": "digits", "data.data_dir": str(tmp_path), "data.n_test": 500, "data.batch_size": 32}
    stream = train.build(values(**base)).program.stream
    assert (tmp_path / "digits" / "1.0.0").is_dir()
    assert stream.test[0].shape == (500, 8, 8, 1) and stream.out_dim == 10 and stream.n_examples == 1297
    labels = np.argmax(stream.test[1], 1)
    assert np.bincount(labels).min() > 30  # every digit in the test split
    from sklearn.datasets import load_digits

    digits = load_digits()
    first = np.asarray(stream.train_arrays["x"][0, ..., 0])
    match = np.flatnonzero((digits.images == first).all(axis=(1, 2)))
    assert len(match) >= 1 and stream.train_arrays["label"][0] in digits.target[match]
    by_name = train.build(values(**(base | {"data.task": "tfds", "data.name": "digits"}))).program.stream
    np.testing.assert_array_equal(by_name.test[0], stream.test[0])
