"""scaling: width / gamma / learning-rate sweeps of neural networks in JAX.

    import scaling
    scaling.run("configs/quickstart.py", "runs/qs")
    ds = scaling.load("runs/qs")          # an xarray.Dataset
    ds.test_loss.sel(width=256).mean("seed")
"""

from scaling.launch.runner import run
from scaling.store import load

__all__ = ["load", "run"]
