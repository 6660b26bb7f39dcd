"""Training loop (torch): masked cross-entropy on patches, validation, early stopping.

Imported only when a network is trained, so brushlab runs without torch otherwise.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from brushlab.errors import TrainingError
from brushlab.network._calibrate import calibrate, macro_f1
from brushlab.network._geometry import Architecture
from brushlab.network._prepare import TrainingData
from brushlab.network._unet import UNet

__all__ = ["TrainResult", "train"]

log = logging.getLogger("brushlab.network")
VAL_BLOCK = {2: (128, 128), 3: (16, 64, 64)}


@dataclass
class TrainResult:
    """The best network and how training went."""

    net: UNet
    temperature: float
    bias: list[float]
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)
    stopped: str = ""
    device: str = "cpu"


def train(
    arch: Architecture,
    data: TrainingData,
    *,
    seconds: float,
    max_steps: int | None,
    patch: Sequence[int],
    batch_size: int,
    learning_rate: float,
    dense_weight: float,
    patience: int,
    seed: int,
    device: str,
    threads: int | None = None,
    calibrate_bias: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train ``arch`` on ``data`` until the budget, patience or ``cancel()`` ends it."""
    before = torch.get_num_threads()
    torch.set_num_threads(training_threads(threads))
    try:
        return _train(arch, data, seconds=seconds, max_steps=max_steps, patch=patch,
                      batch_size=batch_size, learning_rate=learning_rate,
                      dense_weight=dense_weight, patience=patience, seed=seed, device=device,
                      calibrate_bias=calibrate_bias, progress=progress, cancel=cancel)
    finally:
        torch.set_num_threads(before)


def training_threads(threads: int | None) -> int:
    """Threads for torch: ``threads``, else every core unless the machine is already busy.

    torch's OpenMP threads wait by spinning: on cores that other processes keep busy
    (load average above the core count) two threads ran a step 4x slower than one.
    """
    if threads:
        return int(threads)
    cores = os.cpu_count() or 1
    return 1 if os.getloadavg()[0] >= cores else cores


def _train(
    arch: Architecture,
    data: TrainingData,
    *,
    seconds: float,
    max_steps: int | None,
    patch: Sequence[int],
    batch_size: int,
    learning_rate: float,
    dense_weight: float,
    patience: int,
    seed: int,
    device: str,
    calibrate_bias: bool,
    progress: Callable[[dict[str, Any]], None] | None,
    cancel: Callable[[], bool] | None,
) -> TrainResult:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    net = UNet(arch).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    sampler = _Sampler(data, patch, rng)
    validation = (_Validation(data, arch, calibrate_bias)
                  if any(v.any() for v in data.val) else None)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"f1": -1.0, "loss": float("inf")}
    best_state = copy.deepcopy(net.state_dict())
    t0 = time.perf_counter()
    next_eval, step, since_best, stopped = seconds / 4, 0, 0, "time budget"
    losses: list[float] = []
    while True:
        now = time.perf_counter() - t0
        done = now >= seconds or (max_steps is not None and step >= max_steps)
        cancelled = cancel is not None and cancel()
        if validation is not None and (now >= next_eval or done or cancelled) and step > 0:
            te = time.perf_counter()
            record = validation.evaluate(net, dev)
            record.update(step=step, seconds=round(now, 2), budget_seconds=seconds,
                          train_loss=float(np.mean(losses)) if losses else None)
            losses = []
            # F1 on scribbles saturates and is noisy: within 0.002 the lower loss wins
            improved = record["val_f1"] > best["f1"] + 2e-3 or (
                record["val_f1"] >= best["f1"] - 2e-3 and record["val_loss"] < best["loss"])
            if improved:
                best = {"f1": record["val_f1"], "loss": record["val_loss"], "step": step,
                        "temperature": record.pop("_t"), "bias": record.pop("_b")}
                best_state = copy.deepcopy(net.state_dict())
                since_best = 0
            else:
                record.pop("_t"), record.pop("_b")
                since_best += 1
            record["best_val_f1"] = best["f1"]
            history.append(record)
            if progress is not None:
                progress(dict(record))
            spent = time.perf_counter() - te
            next_eval = (time.perf_counter() - t0) + max(seconds / 12, 4 * spent)
            if since_best >= patience and not done:
                stopped = f"no better validation F1 in {patience} evaluations"
                break
        if cancelled:
            stopped = "cancelled"
            break
        if done:
            if max_steps is not None and step >= max_steps:
                stopped = f"{max_steps} steps"
            break
        try:
            x, y = sampler.batch(batch_size)
            loss = train_step(net, opt, x, y, data.n_image_channels, dense_weight, dev, rng)
        except torch.OutOfMemoryError as exc:
            batch_size, dev = _after_oom(exc, batch_size, dev, net, opt)
            continue
        losses.append(loss)
        step += 1
        if validation is None and progress is not None and step % 5 == 0:
            progress({"step": step, "seconds": round(time.perf_counter() - t0, 2),
                      "budget_seconds": seconds, "train_loss": float(np.mean(losses[-5:]))})
    if step == 0:
        raise TrainingError(f"training stopped ({stopped}) before its first step: there is no "
                            "network to keep; give it more time")
    if "temperature" not in best:  # no validation (or none finished): the last weights
        best = {"step": step, "temperature": 1.0, "bias": [0.0] * arch.n_classes}
        best_state = net.state_dict()
    net.load_state_dict(best_state)
    net = net.cpu().eval()
    return TrainResult(net, float(best["temperature"]), [float(b) for b in best["bias"]],
                       history, {k: v for k, v in best.items() if k in ("f1", "step")},
                       stopped, dev.type)


def _after_oom(exc: BaseException, batch_size: int, dev: torch.device, net: UNet,
               opt: Any) -> tuple[int, torch.device]:
    """Halve the batch; at batch 1 leave the GPU for the CPU; on the CPU give up clearly."""
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    if batch_size > 1:
        log.warning("out of memory (%s): batch size %d -> %d", exc, batch_size, batch_size // 2)
        return batch_size // 2, dev
    if dev.type == "cuda":
        log.warning("out of GPU memory even at batch size 1: training goes on on the CPU")
        cpu = torch.device("cpu")
        net.to(cpu)
        for state in opt.state.values():
            for k, v in state.items():
                if torch.is_tensor(v):
                    state[k] = v.to(cpu)
        return 1, cpu
    raise TrainingError(
        "out of memory even at batch size 1 on the CPU: use a smaller patch_size=, "
        "base_channels= or depth=, or free memory"
    ) from exc


def train_step(net: UNet, opt: Any, x: np.ndarray, y: np.ndarray, n_image: int,
               dense_weight: float, dev: torch.device, rng: np.random.Generator) -> float:
    """One optimisation step on a batch; ``y`` is (2, B, *P): labels, dense targets."""
    net.train()
    xt = torch.from_numpy(x).to(dev)
    labels = torch.from_numpy(y[0]).to(dev) - 1  # -1 = not in the loss
    logits = net(xt)
    loss = F.cross_entropy(logits, labels, ignore_index=-1)
    if dense_weight > 0:
        dense = torch.from_numpy(y[1]).to(dev) - 1
        if bool((dense >= 0).any()):
            loss = loss + dense_weight * F.cross_entropy(logits, dense, ignore_index=-1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach().cpu())


class _Sampler:
    """Patches centred on labelled training pixels (classes drawn equally), augmented."""

    def __init__(self, data: TrainingData, patch: Sequence[int], rng: np.random.Generator):
        self.rng, self.n_image = rng, data.n_image_channels
        self.patch = tuple(int(p) for p in patch)
        half = [p // 2 + 1 for p in self.patch]
        pad = [(h, h) for h in half]
        self.inputs = [np.pad(x, [(0, 0), *pad], mode="symmetric") for x in data.inputs]
        train = [np.where(v, 0, lab) for v, lab in zip(data.val, data.labels)]
        dense = data.dense or [np.zeros_like(lab) for lab in data.labels]
        self.targets = [np.stack([np.pad(t, pad), np.pad(np.where(lab > 0, 0, d), pad)])
                        for t, d, lab in zip(train, dense, data.labels)]
        self.half = half
        self.centres: list[tuple[np.ndarray, np.ndarray]] = []
        for k in range(1, int(max(lab.max() for lab in data.labels)) + 1):
            frames, flat = [], []
            for i, t in enumerate(train):
                idx = np.flatnonzero(t == k)
                frames.append(np.full(idx.size, i))
                flat.append(idx)
            if sum(f.size for f in flat):
                self.centres.append((np.concatenate(frames), np.concatenate(flat)))
        if not self.centres:
            raise TrainingError("no labelled pixels are left for training after the validation "
                                "split: paint more, or lower validation_fraction=")

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for _ in range(n):
            frames, flat = self.centres[self.rng.integers(len(self.centres))]
            j = self.rng.integers(flat.size)
            i = int(frames[j])
            shape = self.inputs[i].shape[1:]
            centre = np.unravel_index(int(flat[j]), [s - 2 * h for s, h in zip(shape, self.half)])
            jitter = [self.rng.integers(-(p // 4), p // 4 + 1) for p in self.patch]
            start = [int(c) + h - p // 2 + int(d) for c, h, p, d in
                     zip(centre, self.half, self.patch, jitter)]
            start = [min(max(s, 0), n - p) for s, n, p in zip(start, shape, self.patch)]
            sl = tuple(slice(s, s + p) for s, p in zip(start, self.patch))
            x, y = self._augment(self.inputs[i][(slice(None), *sl)],
                                 self.targets[i][(slice(None), *sl)])
            xs.append(x)
            ys.append(y)
        return np.stack(xs).astype(np.float32), np.stack(ys, axis=1).astype(np.int64)

    def _augment(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        nd = x.ndim - 1
        for axis in range(1, nd + 1):
            if rng.random() < 0.5:
                x, y = np.flip(x, axis), np.flip(y, axis)
        if x.shape[-1] == x.shape[-2]:
            k = int(rng.integers(4))
            x, y = np.rot90(x, k, axes=(-2, -1)), np.rot90(y, k, axes=(-2, -1))
        x = np.array(x, dtype=np.float32)
        gain = float(np.exp(rng.normal(0.0, 0.15)))
        x[: self.n_image] = x[: self.n_image] * gain + float(rng.normal(0.0, 0.1))
        return x, np.ascontiguousarray(y)


class _Validation:
    """Windows around the validation blocks; F1 and loss on their held-out labels."""

    def __init__(self, data: TrainingData, arch: Architecture, calibrate_bias: bool) -> None:
        self.calibrate_bias = calibrate_bias
        halo = [r + m for r, m in zip(arch.radius, arch.multiple)]
        self.windows: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []
        self.crops: list[tuple[slice, ...]] = []
        for i, block in data.val_blocks or []:
            x, lab = data.inputs[i], data.labels[i]
            size = [-(-(b.stop - b.start + 2 * h) // m) * m
                    for b, h, m in zip(block, halo, arch.multiple)]
            pad = [(h, s) for h, s in zip(halo, size)]
            xp = np.pad(x, [(0, 0), *pad], mode="symmetric")
            self.windows.append(xp[(slice(None), *[slice(b.start, b.start + s)
                                                   for b, s in zip(block, size)])])
            self.targets.append(np.where(data.val[i][block], lab[block], 0))
            self.crops.append(tuple(slice(h, h + b.stop - b.start) for h, b in zip(halo, block)))

    def evaluate(self, net: UNet, dev: torch.device) -> dict[str, Any]:
        net.eval()
        logits, labels = [], []
        with torch.no_grad():
            for x, t, crop in zip(self.windows, self.targets, self.crops):
                out = net(torch.from_numpy(x[None]).to(dev))[0]
                o = out[(slice(None), *crop)].cpu().numpy()
                m = t > 0
                logits.append(o[:, m].T)
                labels.append(t[m] - 1)
        z, y = np.concatenate(logits), np.concatenate(labels)
        temperature, b = calibrate(z, y)
        if not self.calibrate_bias:  # scribbles are no unbiased sample of the classes' areas
            b = [0.0] * len(b)
        zt = z - z.max(axis=1, keepdims=True)
        loss = float(np.mean(np.log(np.exp(zt).sum(axis=1)) - zt[np.arange(y.size), y]))
        raw = np.argmax(z, axis=1)
        cal = np.argmax(z / temperature + np.asarray(b), axis=1)
        return {"val_loss": loss, "val_accuracy": float(np.mean(raw == y)),
                "val_f1_uncalibrated": macro_f1(raw, y, z.shape[1]),
                "val_f1": macro_f1(cal, y, z.shape[1]), "_t": temperature, "_b": list(b)}
