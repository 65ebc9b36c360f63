"""Configuration layer: the DIRAC-style configuration tree and the registry built from it."""

from tornadoservice.config.errors import ConfigError
from tornadoservice.config.registry import Group, Host, Registry, User
from tornadoservice.config.tree import ConfigTree, convert_value, split_list

__all__ = [
    "ConfigError",
    "ConfigTree",
    "Group",
    "Host",
    "Registry",
    "User",
    "convert_value",
    "split_list",
]
