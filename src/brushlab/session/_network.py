"""Session.train_network: a U-Net from the session's labels, next to its forest.

The network (:class:`brushlab.network.NetworkClassifier`) learns from the same images
and labels as :meth:`Session.train`; by default it also reads the probabilities of a
forest with the session's features and ``classifier_params`` (out of fold while
training). It is kept as ``session.network``, saved in projects, and predicts whole
images (:func:`predict_network`), since it does not read the session's feature cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from brushlab.errors import ClassifierError, LabelError

if TYPE_CHECKING:
    from brushlab.network import NetworkClassifier
    from brushlab.session._session import Session

__all__ = ["train_network", "predict_network"]


def train_network(
    session: Session,
    images: Iterable[Any] | None = None,
    *,
    forest: bool = True,
    progress: Callable[[dict[str, Any]], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    **params: Any,
) -> NetworkClassifier:
    """Train a network on the session's labels; see :meth:`Session.train_network`."""
    from brushlab.classifier import PixelClassifier
    from brushlab.network import NetworkClassifier, require_torch

    require_torch()  # before gathering the labels: say at once how to install it
    indices = (range(len(session.images)) if images is None
               else [session.image_index(i) for i in images])
    picked = [(session.images[i], np.array(session.labels(i))) for i in indices]
    picked = [(img, lab) for img, lab in picked if lab.any()]
    if not picked:
        raise LabelError("nothing is labelled yet: paint at least two classes to train")
    template = (PixelClassifier(session.features, **session.classifier_params)
                if forest else None)
    params.setdefault("random_state", session.classifier_params.get("random_state", 0))
    net = NetworkClassifier(forest=template, **params)
    names = list(session.class_names)
    net.fit([img for img, _ in picked], [lab for _, lab in picked], class_names=names,
            progress=progress, cancel=cancel)
    with session._lock:
        if list(session.class_names) == names:
            session.network = net
            session._network_results = {}  # type: ignore[attr-defined]
    session.training_history.append({
        "model": "network", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "labelled_pixels": net.training.get("labelled_pixels"),
        "best_val_f1": net.training.get("best_val_f1"), "steps": net.training.get("steps"),
        "stopped": net.training.get("stopped"),
    })
    return net


def predict_network(session: Session, image: Any) -> xr.Dataset:
    """Predict a whole image with the session's network (cached until it retrains)."""
    net = getattr(session, "network", None)
    if net is None or not net.is_trained:
        raise ClassifierError("no trained network yet: call train_network() first")
    index = session.image_index(image)
    cache = getattr(session, "_network_results", None)
    if cache is None:
        cache = session._network_results = {}  # type: ignore[attr-defined]
    key = (index, id(net))
    if key not in cache:
        cache.clear()
        cache[key] = net.predict(session.images[index])
    return cache[key]  # type: ignore[no-any-return]


class NetworkTraining:
    """``Session.train_network`` and the network it keeps (a mixin of :class:`Session`)."""

    #: The network :meth:`train_network` last trained (None before).
    network: Any = None

    def train_network(self, images: Iterable[int | str] | None = None, **kwargs: Any) -> Any:
        """Train a U-Net (:class:`brushlab.network.NetworkClassifier`) on the labels.

        Needs ``brushlab[train]``. ``forest=True`` (default) feeds it a forest with this
        session's features; ``minutes=``, ``progress=``, ``cancel=`` and the other
        NetworkClassifier options pass through. The network is kept as :attr:`network`
        and saved in projects. See :mod:`brushlab.session._network`.
        """
        return train_network(self, images, **kwargs)  # type: ignore[arg-type]

