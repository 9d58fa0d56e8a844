"""Synthetic token sequences generated on the device: random Markov chains.

A chain of order k (``data.order``) draws each token given the previous k: its transition
rows, one per context of k tokens, are random permutations of Zipf probabilities
p_k ~ k^-alpha over the vocabulary (``data.alpha``: larger is more predictable); the first
k tokens are uniform.  Order 1 needs only the current token; order >= 2 needs attention to
earlier positions.  ``markov``: language modelling, the target at each position is the
chain's next-token distribution (the expected one-hot target: cross-entropy against it is
the entropy rate plus the model's KL divergence).  ``markov_classes``: K chains, a sequence
drawn from a uniform one is labelled by the Bayes-optimal rule, the chain of highest
likelihood.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from scaling.config import Field, at_least
from scaling.data import tasks
from scaling.data.tasks import class_targets, register
from scaling.errors import ConfigError


MAX_TABLE = 2**24  # entries of a chain's transition table


def zipf_chains(key, n_chains: int, vocab: int, order: int, alpha: float, dtype):
    """Log transition tables (n_chains, V^order, V): each row a random permutation of k^-alpha, normalized."""
    probabilities = jnp.arange(1, vocab + 1, dtype=dtype) ** -alpha
    probabilities = probabilities / probabilities.sum()
    keys = jax.random.split(key, n_chains * vocab**order)
    rows = jax.vmap(lambda k: jax.random.permutation(k, probabilities))(keys)
    return jnp.log(rows.reshape(n_chains, vocab**order, vocab))


def contexts(x, vocab: int, order: int):
    """The row of the transition table at each position: sum_i x_{t-i} V^i over the last ``order``
    tokens (meaningful from position order - 1 on)."""
    return sum(jnp.roll(x, i, axis=1) * vocab**i for i in range(order))


def sample(log_transitions, chain, key, length: int, order: int = 1):
    """Token sequences (n, length), the i-th drawn from chain ``chain[i]``."""
    n, vocab = chain.shape[0], log_transitions.shape[-1]
    k_first, k_rest = jax.random.split(key)
    first = jax.random.randint(k_first, (n, order), 0, vocab)

    def next_token(context, k):
        token = jax.random.categorical(k, log_transitions[chain, context])
        return (context * vocab + token) % vocab**order, token

    _, rest = jax.lax.scan(next_token, contexts(first, vocab, order)[:, -1], jax.random.split(k_rest, length - order))
    return jnp.concatenate([first, rest.T], axis=1)


@dataclasses.dataclass(frozen=True)
class Markov:
    """Next-token prediction on one random chain; targets (n, T, V), uniform where fewer than
    ``order`` tokens are known."""

    vocab: int
    context: int
    order: int
    alpha: float
    dtype: Any

    @property
    def out_dim(self) -> int:
        return self.vocab

    def teacher(self, key):
        return zipf_chains(key, 1, self.vocab, self.order, self.alpha, self.dtype)

    def inputs(self, teacher, key, n):
        return sample(teacher, jnp.zeros(n, jnp.int32), key, self.context, self.order)

    def targets(self, teacher, x):
        known = (jnp.arange(x.shape[1]) >= self.order - 1)[None, :, None]
        return jnp.where(known, jnp.exp(teacher[0][contexts(x, self.vocab, self.order)]), 1 / self.vocab)


@dataclasses.dataclass(frozen=True)
class MarkovClasses:
    """Which of K random chains drew a sequence: one target per sequence."""

    vocab: int
    context: int
    order: int
    alpha: float
    n_classes: int
    dtype: Any

    @property
    def out_dim(self) -> int:
        return 1 if self.n_classes == 2 else self.n_classes

    def teacher(self, key):
        return zipf_chains(key, self.n_classes, self.vocab, self.order, self.alpha, self.dtype)

    def inputs(self, teacher, key, n):
        k_chain, k_tokens = jax.random.split(key)
        chain = jax.random.randint(k_chain, (n,), 0, self.n_classes)
        return sample(teacher, chain, k_tokens, self.context, self.order)

    def targets(self, teacher, x):
        rows = contexts(x, self.vocab, self.order)[:, self.order - 1:-1]
        log_likelihood = teacher[:, rows, x[:, self.order:]].sum(-1)  # (K, n)
        return class_targets(jnp.argmax(log_likelihood, axis=0), self.n_classes, self.dtype)


def _check(task: str, needs_classes: bool):
    def check(values):
        vocab, order = values["data.vocab"], values["data.order"]
        if vocab ** (order + 1) > MAX_TABLE:
            raise ConfigError("data.order", order, f"vocab^(order + 1) <= 2^24 (vocab {vocab}) for data.task = {task!r}")
        if order >= values["data.context"]:
            raise ConfigError("data.order", order, f"< data.context ({values['data.context']})")
        if needs_classes and values["data.n_classes"] is None:
            raise ConfigError("data.n_classes", None, f"an integer >= 2 for data.task = {task!r}")

    return check


FIELDS = {"data.vocab": tasks.VOCAB, "data.context": tasks.CONTEXT, "data.alpha": tasks.ALPHA,
          "data.order": Field(int, 1, check=at_least(1), rule=">= 1 (tokens a Markov chain conditions on)")}
register("markov", lambda v, dtype: Markov(v["data.vocab"], v["data.context"], v["data.order"], v["data.alpha"], dtype),
         kind="language", check=_check("markov", False), fields=FIELDS)
register("markov_classes", lambda v, dtype: MarkovClasses(v["data.vocab"], v["data.context"], v["data.order"],
                                                          v["data.alpha"], v["data.n_classes"], dtype),
         kind="sequence", check=_check("markov_classes", True), fields=FIELDS | {"data.n_classes": tasks.N_CLASSES})
