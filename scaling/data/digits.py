"""scikit-learn's bundled digits as a TFDS dataset: a real dataset without internet.

1797 grey 8x8 images of the digits 0-9, pixel values 0-16 (Alpaydin and Kaynak 1998, the
UCI optical recognition of handwritten digits test set, as ``sklearn.datasets.load_digits``
ships it).  Written once in ArrayRecord format under the TFDS data directory, it is then
read like any other TFDS dataset: ``data.task = "digits"``, or ``data.task = "tfds"`` with
``data.name = "digits"``.  The split is fixed: 1297 training and 500 test images.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

NAME = "digits"
N_TEST = 500


class Digits(tfds.core.GeneratorBasedBuilder):
    """The 8x8 digits of scikit-learn in TFDS format."""

    VERSION = tfds.core.Version("1.0.0")
    url_infos = None  # nothing is downloaded (and TFDS's lookup of a checksums file needs importlib_resources)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="scikit-learn's 8x8 handwritten digits (pixel values 0-16).",
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(8, 8, 1)),
                "label": tfds.features.ClassLabel(num_classes=10),
            }),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        from sklearn.datasets import load_digits

        digits = load_digits()
        order = np.random.default_rng(0).permutation(len(digits.target))
        images, labels = digits.images.astype(np.uint8)[order], digits.target[order]
        return {"train": self._generate_examples(images[N_TEST:], labels[N_TEST:]),
                "test": self._generate_examples(images[:N_TEST], labels[:N_TEST])}

    def _generate_examples(self, images, labels):
        for i, (image, label) in enumerate(zip(images, labels)):
            yield i, {"image": Image.fromarray(image), "label": int(label)}


def prepared(data_dir: str | None) -> Digits:
    """The digits builder under ``data_dir``, written there on first use (about a second)."""
    builder = Digits(data_dir=data_dir, file_format="array_record")
    if not builder.is_prepared():
        builder.download_and_prepare()
    return builder
