"""Write a network model file and a project holding a network (network format 1).

The files let the tests check, without PyTorch, that a saved network predicts with
onnxruntime alone, that a project holding one opens, and that ``brushlab predict`` runs
it; and, later, that today's brushlab still reads networks written by this one. Run with
torch installed (see README.md in this folder)::

    PYTHONPATH=src python tests/data/make_network_files.py tests/data
"""

import sys

import numpy as np
from scipy import ndimage as ndi

import brushlab
from brushlab.project import save_project
from brushlab.session import Session

print("brushlab", brushlab.__version__, brushlab.__file__)
out = sys.argv[1]
rng = np.random.default_rng(0)
image = (ndi.gaussian_filter(rng.random((48, 56)), 2) * 100).astype(np.float32)
labels = np.zeros(image.shape, np.uint8)
labels[image < np.percentile(image, 25)] = 1
labels[image > np.percentile(image, 75)] = 2
labels[rng.random(image.shape) < 0.7] = 0
fs = brushlab.FeatureSet({"gaussian_smoothing": [1.0], "laplacian_of_gaussian": [1.0]})
params = {"n_trees": 5, "n_jobs": 1, "model": "random_forest", "random_state": 0}
small = {"depth": 2, "base_channels": 4, "max_steps": 80, "patch_size": (32, 32), "n_jobs": 1,
         "random_state": 0}
with Session(image, classes=["dark", "bright"], features=fs, classifier_params=params,
             precompute=False) as s:
    s.import_labels(0, labels)
    net = s.train_network(**small)
    net.save(f"{out}/network_format1.brushlab")
    save_project(s, f"{out}/network_format1_project.brushlab-project", embed_images=True)
np.save(f"{out}/network_format1_image.npy", image)
np.save(f"{out}/network_format1_probabilities.npy", net.predict(image).probabilities.values)
print("ok", net.training["steps"], net.training["stopped"])
