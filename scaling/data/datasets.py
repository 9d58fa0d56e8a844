"""Real datasets through tensorflow-datasets: images and text, on the device or streamed.

``data.task = "tfds"`` reads the dataset ``data.name`` (mnist, fashion_mnist, cifar10,
cifar100, imagenet_resized/32x32, tiny_shakespeare, lm1b, ...) from ``data.data_dir`` through
TFDS data sources: random access to ArrayRecord files, images decoded with PIL, and no
TensorFlow in the process, so nothing can take the accelerator from JAX.
``data.task = "digits"`` is scikit-learn's bundled 8x8 digits, written as a TFDS dataset
on first use (``scaling.data.digits``): a real dataset on a machine without internet.

Examples.  Images: uint8 (H, W, C) and an integer label.  ``data.classes`` keeps a subset
of classes, numbered in the order given (two classes: a scalar +-1 target, as the theory
papers use).  Model inputs are standardized per channel with the mean and standard
deviation of up to ``STATS_EXAMPLES`` training images (models of vectors flatten them).
Targets are one-hot (+-1 for two classes); ``train.loss = "xent"`` reads them as labels.
Text: the split's documents joined by newlines, as bytes (``data.tokens = "byte"``, 256
tokens) or characters (``"char"``: the alphabet of the train and test text), cut into windows
of ``data.context + 1`` tokens that overlap by one: the inputs are the first ``context``
tokens, the targets the next token at every position.

Protocols.  A member's order is a permutation of the training examples drawn from its
``data.seed``.  Online, step t trains on order[tB:(t+1)B]: no example is seen twice, which
needs (steps + 1) B <= N.  Finite: the first ``n_train`` examples of the order, a fixed-seed
subsample of P points.  The test set is the first ``n_test`` examples of the test split in
the ``data.task_seed`` order, the probe set its first ``n_probe``.

Storage (``data.storage``).  ``device``: the training split lives on the device and the
compiled loop gathers each batch.  ``stream``: online batches are read on the host by grain
in the same order, with one batched ArrayRecord read per batch, and fed to the loop in blocks
of steps (small: XLA copies a while loop's operands every step).  On an accelerator ``THREADS``
threads read ahead while it trains; on a CPU, whose every core XLA uses, blocks are read
between the blocks of steps (reading alongside slowed both several-fold).  Every chunk of
members reads the stream again, so a streamed group runs as one chunk.  A pipeline's
position is grain's iterator state (``Loader.state``), so a resumed run continues on the same
examples.  ``auto``: the device when the training split's raw bytes fit in ``DEVICE_BYTES`` or
the training set is finite (P points are always held on the device).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
from typing import Any

import grain
import jax
import jax.numpy as jnp
import numpy as np
import tensorflow_datasets as tfds

from scaling.config import ClassesField, Field
from scaling.data import tasks
from scaling.data.tasks import Stream, TaskSpec, class_targets, member_streams, register_stream, with_noise
from scaling.errors import ConfigError

DEVICE_BYTES = 2**30  # storage 'auto' keeps a training split up to this size on the device
STATS_EXAMPLES = 10_000  # training images the per-channel mean and std are taken from
BLOCK_BYTES = 2**22  # host-fed examples per call of the compiled loop (a while loop copies them each step)
MAX_BLOCK_STEPS = 64
THREADS = 4  # grain threads reading a streamed split, each a batch at a time
PREFETCH = 16  # batches read ahead


# ---------------------------------------------------------------- opening a split
def _default_dir(data_dir: str | None) -> str:
    return data_dir or str(tfds.core.constants.DATA_DIR)


def _prepare_hint(name: str, data_dir: str | None) -> str:
    where = _default_dir(data_dir)
    return (f"a TFDS dataset prepared in ArrayRecord format under data.data_dir ({where}). Prepare it where "
            f"there is internet: `pip install tensorflow; tfds build {name} --data_dir {where} --file_format "
            f"array_record` (datasets that need a manual download take --manual_dir); convert a TFRecord copy "
            f"with `tfds convert_format --dataset_dir {where}/{name}/VERSION --out_file_format array_record`; "
            f"or copy a prepared {name}/ folder into {where}")


@functools.lru_cache(maxsize=None)
def builder(name: str, data_dir: str | None):
    """The TFDS builder of ``name``; digits is written on first use."""
    from scaling.data import digits

    try:
        if name == digits.NAME:
            return digits.prepared(data_dir)
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError:
        raise ConfigError("data.name", name, _prepare_hint(name, data_dir)) from None


@functools.lru_cache(maxsize=None)
def _hide_accelerators_from_tensorflow() -> None:
    """Nothing here runs TensorFlow, but TFDS may import it where it is installed: then it must not
    take the GPUs' memory from JAX (as big_vision does)."""
    if importlib.util.find_spec("tensorflow") is not None:
        import tensorflow as tf

        tf.config.set_visible_devices([], "GPU")


@functools.lru_cache(maxsize=None)
def open_split(name: str, data_dir: str | None, split: str, field: str):
    """Random access to one split (``field`` names the config field of ``split`` for errors)."""
    _hide_accelerators_from_tensorflow()
    dataset = builder(name, data_dir)
    known = list(dataset.info.splits.keys())
    if known and tfds.core.ReadInstruction.from_spec(split).split_name not in known:
        raise ConfigError(field, split, f"a split of {name}: " + ", ".join(known) + " (slices like 'train[:90%]' work)")
    try:
        return dataset.as_data_source(split)
    except Exception as error:  # not prepared, or prepared as TFRecord
        raise ConfigError("data.name", name, _prepare_hint(name, data_dir) + f" ({type(error).__name__})") from None


def _features(values: dict[str, Any]):
    return builder(values["data.name"], values["data.data_dir"]).info.features


def dataset_kind(values: dict[str, Any]) -> str:
    """``image`` for a dataset of images and labels, ``language`` for one of text."""
    features = _features(values)
    if "image" in features and "label" in features:
        return "image"
    if "text" in features:
        return "language"
    raise ConfigError("data.name", values["data.name"],
                      f"a dataset with 'image' and 'label' features, or a 'text' feature (it has {list(features)})")


# ---------------------------------------------------------------- random-access examples
@dataclasses.dataclass(frozen=True)
class Images:
    """The images of a split restricted to ``rows`` (None: all), labels renumbered by ``relabel``."""

    source: Any
    rows: np.ndarray | None
    relabel: np.ndarray | None

    def __len__(self) -> int:
        return len(self.source) if self.rows is None else len(self.rows)

    def read(self, indices) -> dict[str, np.ndarray]:
        """The examples at ``indices``, stacked: one batched read of the ArrayRecord files."""
        rows = [int(i) for i in (indices if self.rows is None else self.rows[np.asarray(indices, np.int64)])]
        try:
            examples = self.source.__getitems__(rows)
        except TypeError:  # TFDS's mock data sources have no working batched read
            examples = [self.source[i] for i in rows]
        labels = np.array([example["label"] for example in examples], np.int32)
        return {"x": np.stack([example["image"] for example in examples]).astype(np.uint8),
                "label": labels if self.relabel is None else self.relabel[labels].astype(np.int32)}


@dataclasses.dataclass(frozen=True)
class Windows:
    """Windows of ``context + 1`` tokens of a token array, overlapping by one."""

    tokens: np.ndarray
    context: int

    def __len__(self) -> int:
        return (len(self.tokens) - 1) // self.context

    def read(self, indices) -> dict[str, np.ndarray]:
        starts = np.asarray(indices, np.int64)[:, None] * self.context
        return {"x": self.tokens[starts + np.arange(self.context + 1)]}


def task_order(n: int, task_seed: int) -> np.ndarray:
    """The fixed order of a split the test and probe sets (and the image statistics) are taken in."""
    return np.random.default_rng(task_seed).permutation(n)


def read_all(examples, chunk: int = 4096) -> dict[str, np.ndarray]:
    """Every example, read in chunks."""
    parts = [examples.read(np.arange(start, min(start + chunk, len(examples))))
             for start in range(0, len(examples), chunk)]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _images(source, classes: tuple[int, ...] | None, n_labels: int) -> Images:
    if classes is None:
        return Images(source, None, None)
    if max(classes) >= n_labels:
        raise ConfigError("data.classes", list(classes), f"labels in 0..{n_labels - 1}")
    labels = read_all(Images(source, None, None))["label"]  # one pass over the split
    relabel = np.full(n_labels, -1)
    relabel[list(classes)] = np.arange(len(classes))
    return Images(source, np.flatnonzero(relabel[labels] >= 0), relabel)


def _text(source) -> str:
    return "\n".join(t.decode("utf-8") if isinstance(t, bytes) else str(t)
                     for t in (source[i]["text"] for i in range(len(source))))


def _tokens(text: str, alphabet: np.ndarray | None) -> np.ndarray:
    if alphabet is None:  # bytes
        return np.frombuffer(text.encode("utf-8"), np.uint8)
    codes = np.array([ord(c) for c in text], np.int64)
    return np.searchsorted(alphabet, codes).astype(np.uint16 if len(alphabet) > 256 else np.uint8)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset's train and test examples (random access, on the host) and how raw examples
    become model inputs and targets."""

    kind: str  # image | language
    train: Any
    test: Any
    n_outputs: int  # classes, or tokens of the vocabulary
    mean: np.ndarray | None = None  # per channel (images)
    std: np.ndarray | None = None

    @property
    def out_dim(self) -> int:
        return 1 if self.kind == "image" and self.n_outputs == 2 else self.n_outputs

    def inputs(self, raw: dict, dtype):
        """Model inputs of raw examples: images standardized per channel, or the first
        ``context`` tokens of the windows."""
        if self.kind == "language":
            return raw["x"][:, :-1].astype(jnp.int32)
        return (raw["x"].astype(dtype) - jnp.asarray(self.mean, dtype)) / jnp.asarray(self.std, dtype)

    def targets(self, raw: dict, dtype):
        """Clean targets: class targets, or the one-hot next token at every position."""
        if self.kind == "language":
            return jax.nn.one_hot(raw["x"][:, 1:], self.n_outputs, dtype=dtype)
        return class_targets(raw["label"], self.n_outputs, dtype)


@functools.lru_cache(maxsize=8)
def load(name: str, data_dir: str | None, train_split: str, test_split: str, classes: tuple | None,
         tokens: str, context: int, task_seed: int) -> Dataset:
    """Open a dataset (cached per process: every group of a sweep shares it)."""
    train = open_split(name, data_dir, train_split, "data.train_split")
    test = open_split(name, data_dir, test_split, "data.test_split")
    features = builder(name, data_dir).info.features
    if "image" in features:
        n_labels = features["label"].num_classes
        train, test = (_images(s, classes, n_labels) for s in (train, test))
        sample = train.read(task_order(len(train), task_seed)[:STATS_EXAMPLES])["x"].astype(np.float64)
        mean, std = sample.mean(axis=(0, 1, 2)), sample.std(axis=(0, 1, 2))
        return Dataset("image", train, test, len(classes) if classes else n_labels, mean, np.maximum(std, 1e-8))
    train_text, test_text = _text(train), _text(test)
    alphabet = None if tokens == "byte" else np.array(sorted({ord(c) for c in train_text + test_text}))
    vocab = 256 if alphabet is None else len(alphabet)
    return Dataset("language", Windows(_tokens(train_text, alphabet), context),
                   Windows(_tokens(test_text, alphabet), context), vocab)


def dataset(values: dict[str, Any]) -> Dataset:
    classes = values["data.classes"]
    return load(values["data.name"], values["data.data_dir"], values["data.train_split"], values["data.test_split"],
                tuple(classes) if classes is not None else None, values["data.tokens"], values["data.context"],
                values["data.task_seed"])


# ---------------------------------------------------------------- the stream
def _order(data_seed, n: int):
    """A member's permutation of the n training examples, from its ``data.seed``."""
    return jax.random.permutation(member_streams(data_seed)[0], n)


@dataclasses.dataclass(frozen=True)
class DatasetStream(Stream):
    """A real dataset: training examples on the device (``train_arrays``) or streamed."""

    dataset: Dataset = None
    train_arrays: dict | None = None  # raw training examples on the device; None when streamed
    dtype: Any = jnp.float32

    @property
    def streamed(self) -> bool:
        return self.train_arrays is None

    @property
    def n_examples(self) -> int:
        return len(self.dataset.train)

    def finish(self, raw: dict, key, noise):
        """(model inputs, targets with label noise) of raw examples."""
        x = self.dataset.inputs(raw, self.dtype)
        return x, with_noise(self.dataset.targets(raw, self.dtype), key, noise)

    def member_data(self, data_seed, noise) -> dict:
        order = _order(data_seed, self.n_examples)
        if self.n_train is not None:
            raw = jax.tree.map(lambda a: a[order[: self.n_train]], self.train_arrays)
            return {"train": self.finish(raw, jax.random.fold_in(member_streams(data_seed)[0], 1), noise)}
        return {} if self.streamed else {"order": order}

    def batch(self, data: dict, member: dict, step, rows=None):
        """Step t's online batch: examples order[tB:(t+1)B], gathered on the device or fed as ``rows``."""
        if rows is None:
            index = jax.lax.dynamic_slice(data["order"], (step * self.batch_size,), (self.batch_size,))
            rows = jax.tree.map(lambda a: a[index], self.train_arrays)
        key = jax.random.fold_in(member_streams(member["data.seed"])[1], step)
        return self.finish(rows, key, member["data.noise"])

    def loader(self, data_seeds, states=None) -> Loader:
        return Loader(self.dataset.train, [int(s) for s in data_seeds], self.batch_size, states)


class Loader:
    """Online batches of a streamed training split, one grain pipeline per data seed (in that
    seed's order; read ahead by threads on an accelerator, on demand on a CPU), fed to the
    compiled loop in blocks: ``block(n)`` is the next n steps' examples of every seed,
    (K, seeds, B, ...)."""

    def __init__(self, examples, data_seeds: list[int], batch_size: int, states: list[dict] | None = None):
        self.example_shapes = {k: (v.shape[1:], v.dtype) for k, v in examples.read([0]).items()}
        example_bytes = sum(int(np.prod(shape)) * dtype.itemsize for shape, dtype in self.example_shapes.values())
        self.batch_size, self.n_seeds = batch_size, len(data_seeds)
        self.block_steps = int(np.clip(BLOCK_BYTES // (example_bytes * batch_size * len(data_seeds)), 1, MAX_BLOCK_STEPS))
        # On a CPU, XLA's threads use every core: examples read while a block trains slow every
        # parallel op down far more than the reading costs, so blocks are read between them.
        self.serial = jax.default_backend() == "cpu"
        threads = 0 if self.serial else THREADS
        self.iterators = []
        for data_seed in data_seeds:
            order = np.asarray(_order(data_seed, len(examples)))
            batches = grain.MapDataset.range(len(examples) // batch_size).map(
                lambda b, order=order: examples.read(order[b * batch_size:(b + 1) * batch_size]))
            pipeline = batches.to_iter_dataset(grain.ReadOptions(num_threads=threads, prefetch_buffer_size=PREFETCH))
            self.iterators.append(iter(pipeline))
        for iterator, state in zip(self.iterators, states or []):
            iterator.set_state(state)

    def state(self) -> list[dict]:
        """The position of every pipeline (grain's iterator state): what a checkpoint stores."""
        return [iterator.get_state() for iterator in self.iterators]

    def block(self, n: int) -> dict:
        """The next ``n`` steps' batches of every seed, padded to ``block_steps`` steps."""
        out = {k: np.zeros((self.block_steps, self.n_seeds, self.batch_size) + shape, dtype)
               for k, (shape, dtype) in self.example_shapes.items()}
        for slot, iterator in enumerate(self.iterators):
            for step in range(n):
                batch = next(iterator)
                for k in out:
                    out[k][step, slot] = batch[k]
        return out

    def blocks(self, t0: int, t1: int):
        """(start, stop, block) covering steps t0 .. t1 - 1."""
        for start in range(t0, t1, self.block_steps):
            stop = min(start + self.block_steps, t1)
            yield start, stop, jax.device_put(self.block(stop - start))


# ---------------------------------------------------------------- the task
def _raw_bytes(examples) -> int:
    return len(examples) * sum(v.nbytes for v in examples.read([0]).values())


def make(values: dict[str, Any], dtype) -> DatasetStream:
    data = dataset(values)
    order = task_order(len(data.test), values["data.task_seed"])
    test = data.test.read(order[: values["data.n_test"]])
    clean = lambda raw: (data.inputs(raw, dtype), data.targets(raw, dtype))  # noqa: E731
    storage = values["data.storage"]
    on_device = storage == "device" or (storage == "auto" and (values["data.n_train"] is not None
                                                                or _raw_bytes(data.train) <= DEVICE_BYTES))
    train_arrays = jax.device_put(read_all(data.train)) if on_device else None
    return DatasetStream(
        test=clean(test),
        probe=clean(jax.tree.map(lambda a: a[: values["data.n_probe"]], test)),
        batch_size=tasks.batch_size(values),
        n_train=values["data.n_train"],
        kind=data.kind,
        out_dim=data.out_dim,
        dataset=data,
        train_arrays=train_arrays,
        dtype=dtype,
    )


def check(values: dict[str, Any]) -> None:
    """Everything that can be checked before any compute: the dataset exists and is prepared,
    the splits, classes and set sizes fit it, and the online protocol does not run out."""
    if values["data.name"] is None and values["data.task"] == "tfds":
        raise ConfigError("data.name", None, "a TFDS dataset name for data.task = 'tfds' (e.g. 'mnist', 'cifar10')")
    if values["data.storage"] == "stream" and values["data.n_train"] is not None:
        raise ConfigError("data.storage", "stream", "'device' or 'auto' when data.n_train is set: the P training "
                          "points are held on the device (streaming is for the online protocol)")
    data = dataset(values)
    n, batch, steps = len(data.train), tasks.batch_size(values), values["train.steps"]
    if values["data.n_train"] is not None and values["data.n_train"] > n:
        raise ConfigError("data.n_train", values["data.n_train"], f"<= {n}, the training examples of {values['data.name']}")
    if values["data.n_train"] is None and (steps + 1) * batch > n:
        raise ConfigError("train.steps", steps, f"<= {n // batch - 1} for the online protocol on {n} training examples "
                          f"at batch size {batch} (each example is seen once); set data.n_train for several epochs")
    for field in ("data.n_test", "data.n_probe"):
        if values[field] > len(data.test):
            raise ConfigError(field, values[field], f"<= {len(data.test)}, the examples of {values['data.test_split']}")


def derived(values: dict[str, Any]) -> dict[str, Any]:
    """The data fields a dataset fixes: image size and channels, or the vocabulary."""
    data = dataset(values)
    if data.kind == "language":
        return {"data.vocab": data.n_outputs}
    _, height, width, channels = data.train.read([0])["x"].shape
    if height != width:
        raise ConfigError("data.name", values["data.name"], "a dataset of square images")
    return {"data.image_size": height, "data.channels": channels}


def _with_name(name: str):
    return lambda values: values | {"data.name": name}


# The fields a dataset reads, and those it fixes itself (``derived``), which models read.
FIELDS = {
    "data.name": Field(str, None, optional=True),  # a TFDS dataset (data.task = 'tfds')
    "data.data_dir": Field(str, None, optional=True),  # None: TFDS's default directory
    "data.train_split": Field(str, "train"),
    "data.test_split": Field(str, "test"),
    "data.classes": ClassesField(),
    "data.storage": Field(str, "auto", choices=("auto", "device", "stream")),
    "data.tokens": Field(str, "byte", choices=("byte", "char")),
    "data.context": tasks.CONTEXT, "data.vocab": tasks.VOCAB, "data.image_size": tasks.IMAGE_SIZE,
    "data.channels": tasks.CHANNELS,
}
register_stream("tfds", TaskSpec(make=make, kind=dataset_kind, check=check, derived=derived), FIELDS)
named = _with_name("digits")
register_stream("digits", TaskSpec(make=lambda v, dtype: make(named(v), dtype), kind="image",
                                   check=lambda v: check(named(v)), derived=lambda v: derived(named(v))), FIELDS)
