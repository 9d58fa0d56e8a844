"""Is the input pipeline ever the bottleneck?  Steps/s of one sweep group on streamed TFDS data
against the same shapes generated on the device, side by side in one run.

    .venv/bin/python benchmarks/pipeline.py [--width 512] [--members 8] [--steps 200] [--batch 128] [--repeats 3]

The data: a TFDS dataset written here in ArrayRecord format (``--examples`` random 32 x 32 x 3
uint8 images as PNG, 10 labels; enough that the online protocol never repeats one), read
three ways by the same group, a muP MLP of ``--width`` (depth 3, centred) on one-hot targets,
online batches of ``--batch``, SGD over ``--members`` learning rates, all members in one
chunk for all three (on CPU the framework trains wide on-device groups one member at a time,
and a streamed group in one chunk, since every chunk reads the stream again):

* synthetic: ``cnn_teacher`` images of the same shape, drawn inside the compiled loop;
* tfds on device: ``data.storage = "device"``, the split held on the device, batches
  gathered inside the loop;
* tfds streamed: ``data.storage = "stream"``, batches read and PNG-decoded on the host by grain
  and fed to the loop in blocks (on a CPU between blocks, since reading while XLA uses every
  core slows both; on an accelerator by threads while it trains).

Each is timed end to end (``train.run``: init, every segment, the loss evaluations), after
a warm-up that compiles its functions; the three are interleaved ``--repeats`` times and the
best of each is kept.  The ratio streamed / synthetic should stay >= 0.9.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from scaling import config as config_lib
from scaling import sweep, train
from scaling.data import datasets


class BenchImages(tfds.core.GeneratorBasedBuilder):
    """Random 32 x 32 x 3 images with random labels."""

    VERSION = tfds.core.Version("1.0.0")
    url_infos = None
    N_EXAMPLES = 0

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(32, 32, 3)), "label": tfds.features.ClassLabel(num_classes=10)}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(self.N_EXAMPLES, 0), "test": self._generate_examples(1000, 1)}

    def _generate_examples(self, n, seed):
        rng = np.random.default_rng(seed)
        for i in range(n):
            yield i, {"image": Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)),
                      "label": int(rng.integers(10))}


def group(data: dict, args) -> tuple[train.Trainer, list[dict]]:
    config = {"model": {"arch": "mlp", "width": args.width, "depth": 3},
              "data": {"batch_size": args.batch, **data},
              "train": {"steps": args.steps, "n_logs": 10, "max_members": args.members},
              "measure": {"ntk": False, "features": False, "predictions": False},
              "sweep": {"optim": {"lr": list(np.geomspace(0.01, 0.3, args.members))}}}
    (only,) = sweep.groups(config_lib.resolve(config))
    return train.build(only.values), only.members


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="scaling-pipeline-")
    BenchImages.N_EXAMPLES = (args.steps + 1) * args.batch
    started = time.perf_counter()
    BenchImages(data_dir=data_dir, file_format="array_record").download_and_prepare()
    print(f"wrote {BenchImages.N_EXAMPLES} PNG images to {data_dir} in {time.perf_counter() - started:.1f} s")

    tfds_data = {"task": "tfds", "name": "bench_images", "data_dir": data_dir}
    variants = {
        "synthetic (on device)": {"task": "cnn_teacher", "image_size": 32, "channels": 3, "n_classes": 10},
        "tfds on device": tfds_data | {"storage": "device"},
        "tfds streamed": tfds_data | {"storage": "stream"},
    }
    trainers = {name: group(data, args) for name, data in variants.items()}
    for name, (trainer, members) in trainers.items():  # compile everything first
        train.run(trainer, members[:1] * len(members))
    best = {name: np.inf for name in trainers}
    for _ in range(args.repeats):
        for name, (trainer, members) in trainers.items():
            started = time.perf_counter()
            train.run(trainer, members)
            best[name] = min(best[name], time.perf_counter() - started)

    reference = best["synthetic (on device)"]
    print(f"\nMLP width {args.width}, {args.members} members, batch {args.batch} of 32x32x3, {args.steps} steps "
          f"(best of {args.repeats}; blocks of {datasets.BLOCK_BYTES >> 20} MiB)")
    print(f"{'data':<24}{'time (s)':>10}{'steps/s':>10}{'vs synthetic':>14}")
    for name, seconds in best.items():
        print(f"{name:<24}{seconds:>10.2f}{args.steps / seconds:>10.1f}{reference / seconds:>14.2f}")


if __name__ == "__main__":
    main()
