"""The tasks' registry and the data stream of a group.

A synthetic task generates inputs from a key and maps them to clean targets through a
teacher drawn from ``data.task_seed`` (a chain or class templates may shape the inputs too);
a real dataset (``datasets``: tfds, digits) reads examples from a split.  A task's ``kind``
says what the inputs are and which models take them: ``vector`` (D,), ``image`` (H, W, C),
``sequence`` (T integer tokens, one target per sequence) or ``language`` (T tokens, a target
per position: the next token's distribution); models of vectors flatten images.  The teacher, the held-out test set and the probe set depend on
``data.task_seed`` only, so they are the same for every member and every width;
``data.seed`` (vmapped) draws a member's training points, batches and label noise.
Online (``data.n_train = None``): a fresh batch every step.  Finite: a fixed training set
of ``n_train`` points with fixed noisy labels, sampled in minibatches (full-batch GD when
``batch_size`` is None or ``n_train``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Protocol

import jax
import jax.numpy as jnp

from scaling import config
from scaling.config import Field, at_least, positive
from scaling.keys import DATA_TAG, PROBE_TAG, TEACHER_TAG, TEST_TAG, member_keys

KINDS = ("vector", "image", "sequence", "language")


class Task(Protocol):
    out_dim: int

    def teacher(self, key) -> Any: ...

    def inputs(self, teacher, key, n: int): ...

    def targets(self, teacher, x): ...


def _no_check(values: dict[str, Any]) -> None:
    return None


def _no_fields(values: dict[str, Any]) -> dict[str, Any]:
    return {}


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """How to build a task's stream: ``make(values, dtype) -> Stream``; its input ``kind``, a
    string or a function of the config values (a dataset's kind is the dataset's); ``check``
    raises ConfigError on values it cannot build; ``derived`` returns the data fields the task
    fixes itself (a dataset's image size, channels and vocabulary), which models read."""

    make: Callable[[dict[str, Any], Any], "Stream"]
    kind: str | Callable[[dict[str, Any]], str] = "vector"
    check: Callable[[dict[str, Any]], None] = _no_check
    derived: Callable[[dict[str, Any]], dict[str, Any]] = _no_fields


REGISTRY: dict[str, TaskSpec] = {}
config.declare({"data.task": Field(str, "powerlaw", choices=lambda: tuple(sorted(REGISTRY)))})

# Config fields tasks of several modules read (or, for a dataset, fix); each task declares those it reads.
ALPHA = Field(float, 1.5, check=positive, rule="> 0 (spectral decay)")
N_CLASSES = Field(int, None, optional=True, check=at_least(2), rule=">= 2 (None = regression)")
IMAGE_SIZE = Field(int, 8, check=at_least(1), rule=">= 1 (pixels per side)")
CHANNELS = Field(int, 3, check=at_least(1), rule=">= 1")
VOCAB = Field(int, 16, check=at_least(2), rule=">= 2 (tokens)")
CONTEXT = Field(int, 16, check=at_least(2), rule=">= 2 (tokens per sequence)")


def register(name: str, build, kind: str = "vector", check=_no_check, fields: dict[str, Field] | None = None) -> None:
    """Register a synthetic task under ``data.task = name``: ``build(values, dtype)`` returns a
    ``Task``; ``kind`` is one of ``KINDS``; ``fields``: the config fields it reads beyond the core ones."""
    if kind not in KINDS:
        raise ValueError(f"task kind {kind!r}: allowed {KINDS}")
    register_stream(name, TaskSpec(make=lambda values, dtype: synthetic_stream(build(values, dtype), kind, values),
                                   kind=kind, check=check), fields)


def register_stream(name: str, spec: TaskSpec, fields: dict[str, Field] | None = None) -> None:
    """Register a task that builds its own ``Stream`` (a real dataset)."""
    config.declare(fields or {})
    REGISTRY[name] = spec


def batch_size(values: dict[str, Any]) -> int:
    """Examples per step: ``data.batch_size``, or every one of the ``data.n_train`` points (full-batch
    gradient descent) when it is None."""
    return values["data.n_train"] if values["data.batch_size"] is None else values["data.batch_size"]


def task_kind(values: dict[str, Any]) -> str:
    """The kind of inputs of the config's task."""
    kind = REGISTRY[values["data.task"]].kind
    return kind(values) if callable(kind) else kind


def with_derived(values: dict[str, Any]) -> dict[str, Any]:
    """The config values with the data fields the task fixes (a dataset's image size, vocabulary)."""
    return values | REGISTRY[values["data.task"]].derived(values)


def class_targets(labels, n_classes: int, dtype):
    """Targets of class labels: a scalar +-1 for two classes (as the theory papers use),
    one-hot vectors for more."""
    if n_classes == 2:
        return (2 * labels - 1).astype(dtype)[:, None]
    return jax.nn.one_hot(labels, n_classes, dtype=dtype)


def with_noise(y, key, noise):
    """Targets plus Gaussian label noise of variance ``noise``."""
    return y + jnp.sqrt(noise).astype(y.dtype) * jax.random.normal(key, y.shape, y.dtype)


def member_streams(data_seed):
    """A member's two data keys: its fixed training set (or the order of a dataset), and the
    root its batches fold steps into."""
    return jax.random.split(member_keys(data_seed, DATA_TAG))


@dataclasses.dataclass(frozen=True)
class Stream:
    """The data of one group, as ``train.Program`` uses it.

    ``test`` and ``probe`` are fixed (x, y_clean) on the device, the same for every member.
    Each kind of stream (``SyntheticStream``, ``datasets.DatasetStream``) provides
    ``member_data(data_seed, noise)``, what a member keeps in its state: its fixed training
    set ``train`` = (x, y) when finite, and whatever its online batches need; and
    ``batch(data, member, t, rows)``, step t's online batch (``rows``: the step's examples fed
    by the host when the data is streamed)."""

    test: tuple
    probe: tuple
    batch_size: int
    n_train: int | None
    kind: str
    out_dim: int

    streamed = False  # its training examples are read on the host (a streamed dataset)
    # an online batch is a function of the data seed, the noise and the step alone, so members that
    # share those two can share one draw
    shares_batches = False

    @property
    def host_fed(self) -> bool:
        """Online batches whose examples the host reads and feeds the loop (``loader``)."""
        return self.streamed and self.n_train is None

    def measured(self, f):
        """The part of an output (or target) that measurements see: all of it, or for a
        language model the prediction at the last position of the context, (n, V)."""
        return f[:, -1] if self.kind == "language" else f

    @property
    def probe_target(self):
        """The probe set's clean targets as measured, (P, C)."""
        return self.measured(self.probe[1])

    def batch_index(self, data_seed, step):
        """Rows of a member's fixed training set used at ``step`` (None: the full batch)."""
        if self.batch_size == self.n_train:
            return None
        key = jax.random.fold_in(member_streams(data_seed)[1], step)
        return jax.random.choice(key, self.n_train, (self.batch_size,), replace=False)


@dataclasses.dataclass(frozen=True)
class SyntheticStream(Stream):
    """A task generated on the device: online batches are fresh draws from the step's key."""

    task: Task = None
    teacher: Any = None

    @property
    def shares_batches(self) -> bool:
        return self.n_train is None

    def labelled(self, key, n: int, noise):
        kx, ke = jax.random.split(key)
        x = self.task.inputs(self.teacher, kx, n)
        return x, with_noise(self.task.targets(self.teacher, x), ke, noise)

    def member_data(self, data_seed, noise) -> dict:
        if self.n_train is None:
            return {}
        return {"train": self.labelled(member_streams(data_seed)[0], self.n_train, noise)}

    def batch(self, data: dict, member: dict, step, rows=None):
        """An online member's fresh batch at ``step``."""
        key = jax.random.fold_in(member_streams(member["data.seed"])[1], step)
        return self.labelled(key, self.batch_size, member["data.noise"])


def synthetic_stream(task: Task, kind: str, values: dict[str, Any]) -> SyntheticStream:
    root = jax.random.key(values["data.task_seed"])
    teacher = task.teacher(jax.random.fold_in(root, TEACHER_TAG))

    def clean(tag, n):
        x = task.inputs(teacher, jax.random.fold_in(root, tag), n)
        return x, task.targets(teacher, x)

    return SyntheticStream(
        test=clean(TEST_TAG, values["data.n_test"]),
        probe=clean(PROBE_TAG, values["data.n_probe"]),
        batch_size=batch_size(values),
        n_train=values["data.n_train"],
        kind=kind,
        out_dim=task.out_dim,
        task=task,
        teacher=teacher,
    )


def stream(values: dict[str, Any], dtype) -> Stream:
    """The data of the group with config ``values``."""
    return REGISTRY[values["data.task"]].make(values, dtype)

