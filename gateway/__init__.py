"""Channel Gateway: provider webhooks in, one canonical interaction out, durably forwarded."""

from importlib.metadata import version

__version__ = version("channel-gateway")
