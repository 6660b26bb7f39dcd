"""Fetchers of the public data sets (see :mod:`brushlab.datasets`)."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from brushlab.errors import DatasetError

__all__ = ["DatasetError", "REGISTRY", "BBBC039_INDICES", "bbbc039", "cell", "coins",
           "data_dir", "immunohistochemistry", "isbi2012"]

#: sha256 of every file of the cache layout (see the module docstring for what they cover).
REGISTRY: dict[str, str] = {
    "isbi2012/image_00.png": "12c0ed6f42fc09f512abf6b354f217c950e4c8223b57a0315449b62a14556523",
    "isbi2012/image_01.png": "2cfc7ee635a6f85d5faf5c82a71d3a37bf5af4784b554964e3e07193e3ee2166",
    "isbi2012/image_02.png": "fe60d8d4f93102666a23a18d718b4b59fab8e616987d11c5072f4a87fac7301f",
    "isbi2012/image_03.png": "636d16cbb02f99dda4c9fb6db98dfba066142afa981ffdcfaf54453982e8250c",
    "isbi2012/image_04.png": "991fb3a8e4abc73da1d6159ca28fa4397f0a8351f30a8ba3669c86414d2ce239",
    "isbi2012/image_05.png": "7e9d9fb787664336d6f2cd68b23986f04527e7f8f494410983b4d70c6de1de3b",
    "isbi2012/image_06.png": "7c0a87933ffc72f4ff02f5996d9c3f69fe9a0b5277507415743ad8afb5e5d308",
    "isbi2012/image_07.png": "19f2c25716107d41008c83ba8a814ae47a090e00dea766dde38dce1f00899270",
    "isbi2012/image_08.png": "a8979e4abd1a10af9ca75e614d97875659adbd8ee3a68eba483bf556cfe3023d",
    "isbi2012/image_09.png": "730ebf435ab0f6e625d342552ad03736799fd660d0c6af744674c61a46aa082a",
    "isbi2012/image_10.png": "7c3717bcd48c4b7e5c878d7f0b809b8687a4e6fac471f3863de320a82ee72b8a",
    "isbi2012/image_11.png": "dd7857b25ca1417f87c282750e22c50947f75e81fa032d4e0c96b902c9dc9757",
    "isbi2012/image_12.png": "9f8eff9239bb764d51524a998387a7babcff9f62161804651b030b81aabd5ab8",
    "isbi2012/image_13.png": "377e5cdbcd7f0ac7336f482fc7ead7446887863f26769b3841fe98aadca77dad",
    "isbi2012/image_14.png": "f50d2d77acd2df564c5f0f40b1b24cd929f5944460aa4cd90c422cb5cef33a59",
    "isbi2012/image_15.png": "3e13fdea09accc14f46fb2f3ffa1e882cdd9c53b28a6842c4c10229692c7d1a4",
    "isbi2012/image_16.png": "ffc951c12450f94129582c16fd0d4b165c4a31469b0c42d966f07c183d3132e2",
    "isbi2012/image_17.png": "0f4f7e8e0619e4c7d517ac68d3789a3b6248253747717eac418bb7d32bef4de3",
    "isbi2012/image_18.png": "1bb1edd50595861743d14e1955dfa5d3c9395fb87563eca6dc81433bf9df49de",
    "isbi2012/image_19.png": "999b55633f8d7082add72082656e9532c5c3d97203b376eb317f09ba88a5a5b7",
    "isbi2012/label_00.png": "13b67edd7607a1f284c09170c96a27d38422b0ffaf88024ea5b689acb5e1b4b0",
    "isbi2012/label_01.png": "cff60a00de2901e67165c91d7708d784e4c5bcc9d1c8c677922c905d63bbc3d1",
    "isbi2012/label_02.png": "a578af998c017f56763b81941c4dc612dde5731809b2cea0e8ebc37aecb84dbb",
    "isbi2012/label_03.png": "c8ae3b843fed02e09411a24c10850160922c331041b17c2674025f05a99b8834",
    "isbi2012/label_04.png": "a2f19c01b5d982a97923a0d29e64127a05e3f496731480ac9d9d302b5427f7ff",
    "isbi2012/label_05.png": "2dd5779118f6f4d87f88ec112f1cea20663b50acb8c748b0db1f23eda82b5118",
    "isbi2012/label_06.png": "2b0984e9f31fb41d4c5f4a754a3e080036b7321a0cbd9591a62010d20a574ce7",
    "isbi2012/label_07.png": "2ebc8c835999589bfd7d80d81f83d24e5c41138362b0faafef0f009e1ce82144",
    "isbi2012/label_08.png": "db979010ca4fbdb38c8b32d455aed0da90d598153f2a0046b63d02a6efa32b9e",
    "isbi2012/label_09.png": "8ee6c79adbb740595c4d61776e065e7164c00d52c7dd7562b5279041e7f3567b",
    "isbi2012/label_10.png": "b0156cc8186b0ee521927ac95645b406a42d27564607a6fea3a59c34add78f7c",
    "isbi2012/label_11.png": "e47b3aa0cfb3106476af1666e631d45bd16dbf2aff88260ee65d16e4134332db",
    "isbi2012/label_12.png": "85a7a899c0b72b81633ad122887ba5161d650385d7775a5b3074eb00131b3620",
    "isbi2012/label_13.png": "88549c22fd647312d6b37e17d33e90800d347d60ccb1156a8dde5e67394f9f3d",
    "isbi2012/label_14.png": "bcd775017eb4fdbdfe7ad6cc6420b2f16aa9d0576894d08370edcf564b46680a",
    "isbi2012/label_15.png": "59a854887b504ff00a5b4b93b2299bbc0bf0cbe54dea58d2b31969229b28b369",
    "isbi2012/label_16.png": "b34eb88cdc3313a6f4190f5753465df7f69d8f3c243a5c25427b1b99ecfe2499",
    "isbi2012/label_17.png": "4fa076cbeb744803d987dc46cf308dc3026408e7a5188838e30e25fe3ea67dbe",
    "isbi2012/label_18.png": "bd009dda57f204804732f592ed1d41ba18961d83c492413fe71548efa4a288d9",
    "isbi2012/label_19.png": "bf38407c55b6033c1677230228ecb100a11294aa74a7b92e5edfdc4abadcfef9",
    "bbbc039/image_00.tif": "9eacee0e5a4c29af70307af4d310320632e31ed84b4d8b5fd4fce42930f780ec",
    "bbbc039/image_01.tif": "be0de5924e22ab3f7ff7e39cc041b8f3c71d4f0ee2f3deff9a29f7ce102133e1",
    "bbbc039/image_03.tif": "08217bfcf100d86492bce0aac3af11ec376ed4b6090c87b58c56285d8227f56b",
    "bbbc039/image_04.tif": "6d403228631aa2ffdc3307dc35c6bd268903be699af19656790010b717d28794",
    "bbbc039/image_06.tif": "5c34b879cb7103c334cfc9de3f8ff21d128d09504771de8f8cf8b0250b9a46d4",
    "bbbc039/image_07.tif": "5d09f5913592f964e6a0acaa9132dd388032006b6148d837bb7123a7db840f81",
    "bbbc039/image_09.tif": "78619f3f8db166cf5c3abf2972893602fb19c5f8b01d648e86532b311dc0f012",
    "bbbc039/image_10.tif": "f11d4a8a586126d11128fd5b5f991399787ca7850d47c1df3947c764c65165de",
    "bbbc039/image_12.tif": "d7810d35d1d8975cb9eb2544c295fcf794dd9a16a5a06950fc6ea16f040ede3f",
    "bbbc039/image_13.tif": "5697a648b4f6d1106bb8a8477b9fda7a05699a282c044fc0e2cc0d449165db09",
    "bbbc039/image_15.tif": "a9cd80fd5f704b7bda8ccf1986314eab42bf0c9b23a0c5efcecb7a1297b4073a",
    "bbbc039/image_16.tif": "8a6a917ed6b9aabccdaf42de755d0e5a4b9eba3e64157f06a15c7208cd0f7b06",
    "bbbc039/image_18.tif": "15839e3214ee8dc2bceffea7812bbd08a9f50c4e2879cd9ab34842c6c81bc241",
    "bbbc039/mask_00.png": "c56c246edcd456f81fb0d61d318c2b7a378afba207bd0b409834db16d30cfb72",
    "bbbc039/mask_01.png": "4265212e4fc7c59f85f19cf5450335c8f780f0d1f3acab5d6f7b593be5df07e4",
    "bbbc039/mask_03.png": "45924705228df152b84333793c1fb78d217f1ec0591ef53b3ab06affd2ee0926",
    "bbbc039/mask_04.png": "f68f129f94f37b3f3b663d233e74785a6dc333efc6f98f750e61e5f39b145b8a",
    "bbbc039/mask_06.png": "a303f63bc80b3618028b41ad19129a2db353ac1b3fc174a18df36aed58b88825",
    "bbbc039/mask_07.png": "334c64353ff5058889c935eca344e5d5be318738232edde4342387e3fd6ada85",
    "bbbc039/mask_09.png": "c6ca4b07002a01089011d2c3e2903ae85f64f3072b9001f07b645f3954a46ccd",
    "bbbc039/mask_10.png": "f366d3421e9b02be551b694847ac1781f4a5f8c4dcb2996776d67a3ad079425e",
    "bbbc039/mask_12.png": "98a3cb5173d0425e12b588818c98a3eb6ae45f501517cca98221363f73bb7a40",
    "bbbc039/mask_13.png": "cdebc21337d725c8b1a56199f280779dcead67a1b924f3c5f338160c9158aff5",
    "bbbc039/mask_15.png": "eb55cb0d261324e684b1c9dae74016e8e0badb06d2ff855a8975684e5b65642a",
    "bbbc039/mask_16.png": "54ad2ac5cfa96a52d70b54cb5d255ef43424f7e5b860e6732338b3d1ba58d366",
    "bbbc039/mask_18.png": "38459f323425cfd8fc871d292768b2660eedb20ba1b003d076a4e2ac0ec4ee99",
}

#: Indices of brushlab's BBBC039 subset (every 11th file of the 200, k % 3 != 2), and
#: the original file stem of each.
BBBC039_INDICES: dict[int, str] = {
    0: "IXMtest_A02_s1_w1051DAA7C-7042-435F-99F0-1E847D9B42CB",
    1: "IXMtest_A24_s9_w152CD6793-DA45-4975-869A-CBD49D645E37",
    3: "IXMtest_C18_s1_w11C16FC59-2E29-496A-803A-89581FDF538A",
    4: "IXMtest_D08_s7_w1F476A544-A07C-4E9B-A6CB-BAEF4CD6F64E",
    6: "IXMtest_F12_s8_w1DBD80811-5297-4415-ACD1-EC9286BE76A4",
    7: "IXMtest_G08_s6_w1823194BE-DE9A-4638-BACD-CABE5FA4C89C",
    9: "IXMtest_H24_s6_w15034AA9F-051A-4BF0-A62F-ABAE599C4867",
    10: "IXMtest_I17_s6_w1EB7CA00F-DF95-466C-BF8C-6304B6A4974E",
    12: "IXMtest_K11_s4_w139A2D71E-EC27-49CC-BDA0-1118747BDC76",
    13: "IXMtest_L06_s4_w14DD3575A-627B-4A71-91F0-3396DE0B33C4",
    15: "IXMtest_N18_s2_w1CC5ED51D-86C5-437D-8EDD-E56E4C949B3B",
    16: "IXMtest_O10_s8_w18F4DB020-BFB7-4F13-B99C-C39F8E54F85D",
    18: "IXMtest_P23_s9_w1CA355675-EEC7-40B6-82C8-DC7E52A7A825",
}

_ISBI_URL = "http://brainiac2.mit.edu/isbi_challenge/sites/default/files/"
_ISBI_FILES = {  # md5 as published by torchvision-style ssTEM loaders (not checked here)
    "train-volume.tif": "md5:465461edbe0254630c4ec5577f1e7764",
    "train-labels.tif": "md5:657fe6b728c6dd0152e295c6d800001d",
}
_BBBC_URL = "https://data.broadinstitute.org/bbbc/BBBC039/"
_BBBC_ARCHIVES = {  # sha256 of the archives as served in 2024 (third-party record)
    "images.zip": "sha256:6f30a5d4fe38c928ded972704f085975f8dc0d65d9aa366df00e5a9d449fddd7",
    "masks.zip": "sha256:f9e6043d8ca56344a4886f96a700d804d6ee982f31e2b2cd3194af2a053c2710",
}
_ISBI_SLICES, _TIMEOUT_S = 20, 30


def data_dir() -> Path:
    """Return the cache folder of the data sets: ``$BRUSHLAB_DATA`` or pooch's user cache.

    Returns
    -------
    pathlib.Path
        The folder (not created here).

    Examples
    --------
    >>> data_dir().name in ("data", "brushlab")  # doctest: +SKIP
    True
    """
    env = os.environ.get("BRUSHLAB_DATA")
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("brushlab"))


def _sha256(path: Path) -> str:
    import pooch

    return str(pooch.file_hash(str(path), alg="sha256"))


def _cached(names: list[str]) -> list[Path] | None:
    """Return the verified files of the cache layout, or None when any is missing."""
    root = data_dir()
    paths = [root / name for name in names]
    if not all(p.is_file() for p in paths):
        return None
    for name, path in zip(names, paths):
        if _sha256(path) != REGISTRY[name]:
            raise DatasetError(f"{path} does not match its sha256 in brushlab.datasets."
                               "REGISTRY: damaged or another version; delete it, fetch again")
    return paths


def _download(url: str, known_hash: str, folder: Path, name: str) -> Path:
    """Download one file with pooch (kept if already there with the right hash)."""
    import pooch

    try:
        folder.mkdir(parents=True, exist_ok=True)
        download = pooch.HTTPDownloader(progressbar=False, timeout=_TIMEOUT_S)
        path = pooch.retrieve(url, known_hash, fname=name, path=folder, downloader=download)
    except Exception as exc:  # no network, HTTP error, hash mismatch, read-only folder
        raise DatasetError(
            f"cannot download {url} into {folder} ({type(exc).__name__}: {exc}). Work offline "
            "by pointing BRUSHLAB_DATA at a folder holding the files (see brushlab.datasets)"
        ) from exc
    return Path(path)


def _slices(slices: int | Iterable[int] | None) -> list[int]:
    if isinstance(slices, (int, np.integer)):
        slices = [int(slices)]
    chosen = [int(s) for s in (range(_ISBI_SLICES) if slices is None else slices)]
    bad = [s for s in chosen if not 0 <= s < _ISBI_SLICES]
    if bad or not chosen:
        raise DatasetError(f"ISBI 2012 slices are 0..{_ISBI_SLICES - 1}, got {bad or 'none'}")
    return chosen


def isbi2012(
    slices: int | Iterable[int] | None = None, *, download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """ISBI 2012 EM training slices and their membrane labels.

    ssTEM of a *Drosophila* larva's ventral nerve cord, ~4 x 4 x 50 nm voxels, one volume
    (Cardona et al., PLoS Biol 2010; Arganda-Carreras et al., Front. Neuroanat. 2015).

    Parameters
    ----------
    slices : int or iterable of int, optional
        Slice indices 0..19 (default all 20), in the order given.
    download : bool, default True
        Download the official files when the cache folder lacks the slices.

    Returns
    -------
    image : ndarray
        ``(z, y, x)`` uint8, 512 x 512 per slice.
    truth : ndarray
        ``(z, y, x)`` uint8 classes: 1 = membrane, 2 = cell interior.

    Raises
    ------
    DatasetError
        Not cached and not downloadable (offline), or a cached file is damaged.

    Examples
    --------
    >>> image, truth = isbi2012(slices=range(3))  # doctest: +SKIP
    >>> image.dtype, sorted(np.unique(truth).tolist())  # doctest: +SKIP
    (dtype('uint8'), [1, 2])
    """
    import imageio.v3 as iio

    chosen = _slices(slices)
    names = [f"isbi2012/{kind}_{s:02d}.png" for s in chosen for kind in ("image", "label")]
    paths = _cached(names)
    if paths is None:
        volume, labels = _isbi_official(download)
        image, raw = volume[chosen], labels[chosen]
    else:
        image, raw = (np.stack([iio.imread(p) for p in paths[i::2]]) for i in (0, 1))
    truth = np.where(raw > 0, 2, 1).astype(np.uint8)
    return np.ascontiguousarray(image, dtype=np.uint8), truth


def _isbi_official(download: bool) -> tuple[np.ndarray, np.ndarray]:
    import tifffile

    folder = data_dir() / "isbi2012"
    if not download and not all((folder / n).is_file() for n in _ISBI_FILES):
        raise DatasetError(f"ISBI 2012 is not in {folder} and download=False")
    volume, labels = (
        tifffile.imread(_download(_ISBI_URL + name, known, folder, name))
        for name, known in _ISBI_FILES.items()
    )
    return np.asarray(volume), np.asarray(labels)


def bbbc039(n: int = 3, *, download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """BBBC039 nuclei images and their instance labels (the first ``n`` of the subset).

    U2OS cells, Hoechst (Caicedo et al., Cytometry A 2019); BBBC039v1 of the Broad
    Bioimage Benchmark Collection (Ljosa et al., Nat. Methods 2012), CC0. Instances are
    the 8-connected components of each value of the mask's red channel, as its code does.

    Parameters
    ----------
    n : int, default 3
        Images to load, 1..13, from indices :data:`BBBC039_INDICES` in order.
    download : bool, default True
        Download the official archives (about 80 MB) when the cache lacks the files.

    Returns
    -------
    images : ndarray
        ``(n, 520, 696)`` uint16 holding 12-bit values.
    labels : ndarray
        ``(n, 520, 696)`` int32 nucleus ids 1..N per image, 0 background.

    Raises
    ------
    DatasetError
        Not cached and not downloadable (offline), or a cached file is damaged.

    Examples
    --------
    >>> images, labels = bbbc039(n=2)  # doctest: +SKIP
    >>> images.shape, int(labels[0].max()) > 10  # doctest: +SKIP
    ((2, 520, 696), True)
    """
    import imageio.v3 as iio
    import tifffile

    indices = list(BBBC039_INDICES)
    if not 1 <= int(n) <= len(indices):
        raise DatasetError(f"n must be 1..{len(indices)}, got {n}")
    keys = indices[: int(n)]
    names = [f"bbbc039/{kind}_{k:02d}.{ext}" for k in keys
             for kind, ext in (("image", "tif"), ("mask", "png"))]
    paths = _cached(names)
    if paths is None and not download:
        raise DatasetError(f"BBBC039 is not in {data_dir() / 'bbbc039'} and download=False")
    if paths is None:
        _bbbc039_official(names)
        paths = [data_dir() / name for name in names]
    images = np.stack([tifffile.imread(p) for p in paths[0::2]]).astype(np.uint16)
    labels = np.stack([_instances_of_mask(np.asarray(iio.imread(p))) for p in paths[1::2]])
    return images, labels


def _instances_of_mask(mask: np.ndarray) -> np.ndarray:
    """Instance ids from a BBBC039 mask: 8-connected components of each R value."""
    from skimage.measure import label
    from skimage.segmentation import relabel_sequential

    red = mask[..., 0] if mask.ndim == 3 else mask
    out = np.zeros(red.shape, np.int32)
    for value in np.unique(red[red > 0]):
        part = label(red == value, connectivity=2)
        out = np.where(part > 0, part + out.max(), out).astype(np.int32)
    return np.asarray(relabel_sequential(out)[0], dtype=np.int32)


def _bbbc039_official(names: list[str]) -> None:  # extract them from the official zips
    folder = data_dir() / "bbbc039" / "archives"
    archives = {n: _download(_BBBC_URL + n, h, folder, n) for n, h in _BBBC_ARCHIVES.items()}
    for short in names:
        kind, rest = Path(short).name.split("_", 1)
        stem = BBBC039_INDICES[int(rest.split(".")[0])]
        archive, ext = (("images.zip", ".tif") if kind == "image" else ("masks.zip", ".png"))
        with zipfile.ZipFile(archives[archive]) as zf:
            member = next((m for m in zf.namelist() if Path(m).name == stem + ext), None)
            if member is None:
                raise DatasetError(f"{archive} of BBBC039 has no file {stem}{ext}")
            target, data = data_dir() / short, zf.read(member)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(data)
        if _sha256(tmp) != REGISTRY[short]:
            tmp.unlink()
            raise DatasetError(f"{member} of {archive} does not match the registry's sha256")
        tmp.replace(target)


def _skimage(name: str) -> np.ndarray:
    from skimage import data

    return np.asarray(getattr(data, name)())


def cell() -> np.ndarray:
    """Return ``skimage.data.cell()``: phase-contrast cells, bundled (offline).

    Examples
    --------
    >>> cell().shape
    (660, 550)
    """
    return _skimage("cell")


def coins() -> np.ndarray:
    """Return ``skimage.data.coins()``: coins on a dark background, bundled (offline).

    Examples
    --------
    >>> coins().dtype
    dtype('uint8')
    """
    return _skimage("coins")


def immunohistochemistry() -> np.ndarray:
    """Return ``skimage.data.immunohistochemistry()``: RGB DAB and haematoxylin, bundled.

    Examples
    --------
    >>> immunohistochemistry().shape
    (512, 512, 3)
    """
    return _skimage("immunohistochemistry")
