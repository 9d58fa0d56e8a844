"""Coord check (issue 2, 11c): muP feature updates are width-independent, NTK's shrink like 1/sqrt(N)."""

import numpy as np
from conftest import values

from scaling.measure.coord import coord_check

WIDTHS = [64, 256, 1024]


def _updates(param, lr):
    base = values(**{"model.param": param, "optim.lr": lr, "data.dim": 32, "data.batch_size": 64, "data.n_probe": 64})
    result = coord_check(base, WIDTHS, steps=3)
    return {layer: np.array([result[w][layer]["update"] for w in WIDTHS]) for layer in result[WIDTHS[0]]}


def test_mup_feature_updates_stay_within_factor_two_across_widths():
    for layer, sizes in _updates("mup", 0.05).items():
        assert sizes.max() / sizes.min() < 2, (layer, sizes)
        assert sizes.min() > 0


def test_ntk_feature_updates_shrink_like_inverse_sqrt_width():
    for layer, sizes in _updates("ntk", 0.5).items():
        slope = np.polyfit(np.log(WIDTHS), np.log(sizes), 1)[0]
        assert abs(slope + 0.5) < 0.1, (layer, sizes, slope)
