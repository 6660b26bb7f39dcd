"""Write a random-forest model file and a project with brushlab before boosted trees (format 1).

Run with brushlab at commit 6723d16 on the path (see README.md in this folder)::

    PYTHONPATH=old/src python make_format1_files.py tests/data
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
image = (ndi.gaussian_filter(rng.random((40, 48)), 2) * 100).astype(np.float32)
labels = np.zeros(image.shape, np.uint8)
labels[image < np.percentile(image, 20)] = 1
labels[image > np.percentile(image, 80)] = 2
labels[rng.random(image.shape) < 0.8] = 0
fs = brushlab.FeatureSet({"gaussian_smoothing": [1.0], "hessian": [1.0]})
clf = brushlab.PixelClassifier(fs, n_trees=5, random_state=0, n_jobs=1)
clf.fit(image, labels, class_names=["dark", "bright"])
clf.save(f"{out}/forest_format1.brushlab")
np.save(f"{out}/forest_format1_image.npy", image)
np.save(f"{out}/forest_format1_probabilities.npy", clf.predict(image).probabilities.values)
params = {"n_trees": 5, "n_jobs": 1}
with Session(image, classes=["dark", "bright"], features=fs, classifier_params=params) as s:
    s.import_labels(0, labels)
    s.train()
    save_project(s, f"{out}/forest_format1_project.brushlab-project", embed_images=True)
    proba = s.predict_region(0).probabilities.values
    np.save(f"{out}/forest_format1_project_probabilities.npy", proba)
print("ok")
