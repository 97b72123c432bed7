"""NoScope engine: cheap cascades that answer "which frames contain the object" for a fixed camera.

Plain Python (numpy, torch, scikit-learn, OpenCV); never imports Dagster or MLflow.
"""

__version__ = "0.1.0"
