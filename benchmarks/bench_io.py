"""Issue 12/13, image I/O: brushlab's readers against the format libraries they wrap.

One 64 x 512 x 512 uint8 stack (ISBI 2012 slices repeated) in TIFF, NGFF Zarr (written
by brushlab.write_image), HDF5 and NPY. For each: ``brushlab.imread`` (open the metadata,
check the declared size against the memory budget, read whole, name the dims) against
the library's own whole read, and a 64 x 64 x 8 region through ``brushlab.io.open_image``
(dask) against the same region read from the library directly. Ratio > 1: brushlab slower.

    .venv/bin/python benchmarks/bench_io.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import brushlab
from brushlab.io import open_image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "isbi2012"


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    import h5py
    import tifffile
    import zarr

    slices = [brushlab.imread(DATA / f"image_{k:02d}.png").values for k in range(20)]
    stack = np.stack([slices[k % 20] for k in range(64)])
    folder = Path(tempfile.mkdtemp())
    tif = brushlab.write_image(folder / "s.tif", stack, dims="zyx")
    zpath = brushlab.write_image(folder / "s.zarr", stack, dims="zyx")
    with h5py.File(folder / "s.h5", "w") as f:
        f.create_dataset("data", data=stack, chunks=(8, 128, 128)).attrs["dims"] = "zyx"
    np.save(folder / "s.npy", stack)
    region = (slice(20, 28), slice(200, 264), slice(300, 364))

    def h5_read(index):
        with h5py.File(folder / "s.h5", "r") as f:
            return f["data"][index]

    cases = {
        "TIFF": (tif, lambda: tifffile.imread(tif),
                 lambda: zarr.open(tifffile.imread(tif, aszarr=True), mode="r")[region]),
        "Zarr (NGFF)": (zpath, lambda: zarr.open_array(str(zpath / "0"), mode="r")[...],
                        lambda: zarr.open_array(str(zpath / "0"), mode="r")[region]),
        "HDF5": (f"{folder}/s.h5/data", lambda: h5_read(...), lambda: h5_read(region)),
        "NPY": (folder / "s.npy", lambda: np.load(folder / "s.npy"),
                lambda: np.array(np.load(folder / "s.npy", mmap_mode="r")[region])),
    }
    print(f"load average before: {os.getloadavg()}")
    print("whole: imread vs the library's read; open+region: open_image then a region vs the "
          "library opening and reading it; region: a region of an image already open (both)")
    print(f"{'format':<13}{'whole s':>9}{'lib s':>8}{'ratio':>7}{'open+reg ms':>13}"
          f"{'lib ms':>8}{'ratio':>7}{'region ms':>11}{'lib ms':>8}{'ratio':>7}")
    z, y, x = region
    for name, (path, whole, part) in cases.items():
        ours = best(lambda p=path: brushlab.imread(p), repeat)
        theirs = best(whole, repeat)
        ours_r = best(lambda p=path: open_image(p).isel(z=z, y=y, x=x).values, repeat)
        theirs_r = best(part, repeat)
        opened = open_image(path)
        ours_o = best(lambda o=opened: o.isel(z=z, y=y, x=x).values, repeat)
        np.testing.assert_array_equal(opened.isel(z=z, y=y, x=x).values, stack[region])
        print(f"{name:<13}{ours:>9.3f}{theirs:>8.3f}{ours / theirs:>7.2f}"
              f"{ours_r * 1e3:>13.2f}{theirs_r * 1e3:>8.2f}{ours_r / theirs_r:>7.2f}"
              f"{ours_o * 1e3:>11.2f}{theirs_r * 1e3:>8.2f}{ours_o / theirs_r:>7.2f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
