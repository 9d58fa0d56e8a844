"""Task registry and the on-device data stream of a group.

A task generates inputs from a key and maps them to clean targets through a teacher
drawn from ``data.task_seed`` (a chain or class templates may shape the inputs too).
Its ``kind`` says what the inputs are and which models take them: ``vector`` (D,),
``image`` (H, W, C), ``sequence`` (T integer tokens, one target per sequence) or
``language`` (T tokens, a target per position: the next token's distribution).  The teacher, the held-out test set and the probe set
depend on ``data.task_seed`` only, so they are the same for every member and every
width; ``data.seed`` (vmapped) draws a member's training points, batches and label
noise.  Online (``data.n_train = None``): a fresh batch every step.  Finite: a fixed
training set of ``n_train`` points with fixed noisy labels, sampled in minibatches
(full-batch GD when ``batch_size == n_train``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Protocol

import jax
import jax.numpy as jnp

from scaling.sweep import DATA_TAG, member_keys

TEACHER_TAG, TEST_TAG, PROBE_TAG = 0, 1, 2


KINDS = ("vector", "image", "sequence", "language")


class Task(Protocol):
    out_dim: int

    def teacher(self, key) -> Any: ...

    def inputs(self, teacher, key, n: int): ...

    def targets(self, teacher, x): ...


def _no_check(values: dict[str, Any]) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    build: Callable[[dict[str, Any], Any], Task]
    kind: str = "vector"
    check: Callable[[dict[str, Any]], None] = _no_check


REGISTRY: dict[str, TaskSpec] = {}


def register(name: str, build, kind: str = "vector", check=_no_check) -> None:
    """Register a task under ``data.task = name``; ``kind`` is one of ``KINDS``."""
    if kind not in KINDS:
        raise ValueError(f"task kind {kind!r}: allowed {KINDS}")
    REGISTRY[name] = TaskSpec(build=build, kind=kind, check=check)


def class_targets(labels, n_classes: int, dtype):
    """Targets of class labels: a scalar +-1 for two classes (as the theory papers use),
    one-hot vectors for more."""
    if n_classes == 2:
        return (2 * labels - 1).astype(dtype)[:, None]
    return jax.nn.one_hot(labels, n_classes, dtype=dtype)


def _labelled(task: Task, teacher, key, n: int, noise):
    kx, ke = jax.random.split(key)
    x = task.inputs(teacher, kx, n)
    y = task.targets(teacher, x)
    return x, y + jnp.sqrt(noise).astype(y.dtype) * jax.random.normal(ke, y.shape, y.dtype)


def _member_streams(data_seed):
    """A member's two data keys: its fixed training set, and the root its batches fold steps into."""
    return jax.random.split(member_keys(data_seed, DATA_TAG))


@dataclasses.dataclass(frozen=True)
class Stream:
    """The data of one group: fixed sets plus per-member training data."""

    task: Task
    teacher: Any
    test: tuple  # (x, y_clean)
    probe: tuple  # (x, y_clean)
    batch_size: int
    n_train: int | None
    kind: str

    def measured(self, f):
        """The part of an output (or target) that measurements see: all of it, or for a
        language model the prediction at the last position of the context, (n, V)."""
        return f[:, -1] if self.kind == "language" else f

    @property
    def probe_target(self):
        """The probe set's clean targets as measured, (P, C)."""
        return self.measured(self.probe[1])

    def train_set(self, data_seed, noise):
        """A member's fixed training set (None when online)."""
        if self.n_train is None:
            return None
        return _labelled(self.task, self.teacher, _member_streams(data_seed)[0], self.n_train, noise)

    def batch(self, data_seed, noise, step):
        """An online member's fresh batch at ``step``."""
        key = jax.random.fold_in(_member_streams(data_seed)[1], step)
        return _labelled(self.task, self.teacher, key, self.batch_size, noise)

    def batch_index(self, data_seed, step):
        """Rows of a member's fixed training set used at ``step`` (None: the full batch)."""
        if self.batch_size == self.n_train:
            return None
        key = jax.random.fold_in(_member_streams(data_seed)[1], step)
        return jax.random.choice(key, self.n_train, (self.batch_size,), replace=False)


def stream(values: dict[str, Any], dtype) -> Stream:
    spec = REGISTRY[values["data.task"]]
    task = spec.build(values, dtype)
    root = jax.random.key(values["data.task_seed"])
    teacher = task.teacher(jax.random.fold_in(root, TEACHER_TAG))

    def clean(tag, n):
        x = task.inputs(teacher, jax.random.fold_in(root, tag), n)
        return x, task.targets(teacher, x)

    return Stream(
        task=task,
        teacher=teacher,
        test=clean(TEST_TAG, values["data.n_test"]),
        probe=clean(PROBE_TAG, values["data.n_probe"]),
        batch_size=values["data.batch_size"],
        n_train=values["data.n_train"],
        kind=spec.kind,
    )


from scaling.data import images, sequences, synthetic  # noqa: E402,F401  (they register themselves)
