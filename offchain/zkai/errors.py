"""The project's exceptions. Every error the project raises on purpose derives from `ZKAIError`.

Core code raises these domain errors; only the edges translate them (the CLI into a message and
an exit code, the API into an HTTP status). Each message says what was wrong and, where there is
one, how to fix it.
"""

from __future__ import annotations


class ZKAIError(Exception):
    """Base class of every error the project raises on purpose."""


class ConfigError(ZKAIError):
    """Settings or the local toolchain are missing or inconsistent."""


class ToolchainError(ConfigError):
    """A required external tool (solc, anvil, redis-server, node) is missing or broken."""


class KeystoreError(ZKAIError):
    """A keystore is missing, malformed, already exists, or the passphrase is wrong."""
