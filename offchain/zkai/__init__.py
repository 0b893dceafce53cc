"""ZKAI network: private, Groth16-proven, token-paid inference on secret-shared inputs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("zkai")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
