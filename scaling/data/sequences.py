"""Synthetic token sequences generated on the device: random Markov chains.

Each chain's transition rows are random permutations of Zipf probabilities
p_k ~ k^-alpha over the vocabulary (``data.alpha``: larger is more predictable); the first
token is uniform.  ``markov``: language modelling, the target at each position is the
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

from scaling.config import ConfigError
from scaling.data import class_targets, register


def zipf_chains(key, n_chains: int, vocab: int, alpha: float, dtype):
    """Log transition matrices (n_chains, V, V): each row a random permutation of k^-alpha, normalized."""
    probabilities = jnp.arange(1, vocab + 1, dtype=dtype) ** -alpha
    probabilities = probabilities / probabilities.sum()
    keys = jax.random.split(key, n_chains * vocab)
    rows = jax.vmap(lambda k: jax.random.permutation(k, probabilities))(keys)
    return jnp.log(rows.reshape(n_chains, vocab, vocab))


def sample(log_transitions, chain, key, length: int):
    """Token sequences (n, length), the i-th drawn from chain ``chain[i]``."""
    n, vocab = chain.shape[0], log_transitions.shape[-1]
    k_first, k_rest = jax.random.split(key)
    first = jax.random.randint(k_first, (n,), 0, vocab)

    def next_token(token, k):
        token = jax.random.categorical(k, log_transitions[chain, token])
        return token, token

    _, rest = jax.lax.scan(next_token, first, jax.random.split(k_rest, length - 1))
    return jnp.concatenate([first[:, None], rest.T], axis=1)


@dataclasses.dataclass(frozen=True)
class Markov:
    """Next-token prediction on one random chain; targets (n, T, V)."""

    vocab: int
    context: int
    alpha: float
    dtype: Any

    @property
    def out_dim(self) -> int:
        return self.vocab

    def teacher(self, key):
        return zipf_chains(key, 1, self.vocab, self.alpha, self.dtype)

    def inputs(self, teacher, key, n):
        return sample(teacher, jnp.zeros(n, jnp.int32), key, self.context)

    def targets(self, teacher, x):
        return jnp.exp(teacher[0][x])


@dataclasses.dataclass(frozen=True)
class MarkovClasses:
    """Which of K random chains drew a sequence: one target per sequence."""

    vocab: int
    context: int
    alpha: float
    n_classes: int
    dtype: Any

    @property
    def out_dim(self) -> int:
        return 1 if self.n_classes == 2 else self.n_classes

    def teacher(self, key):
        return zipf_chains(key, self.n_classes, self.vocab, self.alpha, self.dtype)

    def inputs(self, teacher, key, n):
        k_chain, k_tokens = jax.random.split(key)
        return sample(teacher, jax.random.randint(k_chain, (n,), 0, self.n_classes), k_tokens, self.context)

    def targets(self, teacher, x):
        log_likelihood = teacher[:, x[:, :-1], x[:, 1:]].sum(-1)  # (K, n)
        return class_targets(jnp.argmax(log_likelihood, axis=0), self.n_classes, self.dtype)


def _needs_classes(values):
    if values["data.n_classes"] is None:
        raise ConfigError("data.n_classes", None, "an integer >= 2 for data.task = 'markov_classes'")


register("markov", lambda v, dtype: Markov(v["data.vocab"], v["data.context"], v["data.alpha"], dtype), kind="language")
register("markov_classes", lambda v, dtype: MarkovClasses(v["data.vocab"], v["data.context"], v["data.alpha"],
                                                          v["data.n_classes"], dtype),
         kind="sequence", check=_needs_classes)
