"""PRNG keys from the values of a member's seeds, never from positions (a leaf module).

Every random draw of a member is ``fold_in(key(seed), tag)`` and then the step, so the seeds and
the step are the whole random state: a member's numbers do not depend on which other members
share its program, and a resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

import jax

# Tags folded into a seed's key so that the init and the data streams never coincide.
INIT_TAG, DATA_TAG = 0, 1
# Tags folded into ``data.task_seed``'s key: the teacher, the test set and the probe set.
TEACHER_TAG, TEST_TAG, PROBE_TAG = 0, 1, 2


def member_keys(seed, tag: int):
    """The PRNG key of a seed value (traced or not): key(seed) folded with a stream tag."""
    return jax.random.fold_in(jax.random.key(seed), tag)
