"""Model manifests (the quantised linear-model format), importers and the demo models."""

from zkai.models.manifest import Manifest, Prediction

__all__ = ["Manifest", "Prediction"]
