"""Write a random-forest model file and a project with brushlab before boosted trees (format 1)."""
import sys, numpy as np
import brushlab
print("brushlab", brushlab.__version__, brushlab.__file__)
from brushlab.session import Session
rng = np.random.default_rng(0)
from scipy import ndimage as ndi
image = (ndi.gaussian_filter(rng.random((40, 48)), 2) * 100).astype(np.float32)
labels = np.zeros(image.shape, np.uint8)
labels[image < np.percentile(image, 20)] = 1
labels[image > np.percentile(image, 80)] = 2
labels[rng.random(image.shape) < 0.8] = 0
fs = brushlab.FeatureSet({"gaussian_smoothing": [1.0], "hessian": [1.0]})
clf = brushlab.PixelClassifier(fs, n_trees=5, random_state=0, n_jobs=1).fit(image, labels, class_names=["dark", "bright"])
out = sys.argv[1]
clf.save(f"{out}/forest_format1.brushlab")
np.save(f"{out}/forest_format1_image.npy", image)
np.save(f"{out}/forest_format1_probabilities.npy", clf.predict(image).probabilities.values)
with Session(image, classes=["dark", "bright"], features=fs, classifier_params={"n_trees": 5, "n_jobs": 1}) as s:
    s.import_labels(0, labels)
    s.train()
    from brushlab.project import save_project
    save_project(s, f"{out}/forest_format1_project.brushlab-project", embed_images=True)
    np.save(f"{out}/forest_format1_project_probabilities.npy", s.predict_region(0).probabilities.values)
print("ok")
