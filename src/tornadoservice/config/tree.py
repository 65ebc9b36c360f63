"""The configuration tree: DIRAC 9's layout, loaded from ``.cfg`` and YAML files.

A :class:`ConfigTree` holds sections and options the way DIRAC does: every option value is a
string (``"8443"``, ``"yes"``, ``"a, b"``), and conversions happen when a value is read. Several
files merge in order: a later file overrides options and merges into sections recursively, so a
site file can override a few options of a shipped default file::

    tree = ConfigTree.load("defaults.cfg", "/etc/dirac.cfg", "local.yaml")
    port = tree.getValue("/Systems/Tornado/Port", 8443)

Each option remembers the file that defined it (:meth:`ConfigTree.origin`), so that a relative
path in an option (``HandlerPath = handlers/catalog.py``) resolves against that file's directory
(:meth:`ConfigTree.resolve_path`) rather than the current directory.

Two faces, as for the rest of the package:

* Pythonic: :meth:`~ConfigTree.get`, :meth:`~ConfigTree.sections`, :meth:`~ConfigTree.options`,
  :meth:`~ConfigTree.has_section`, :meth:`~ConfigTree.set_option` ... Missing paths give ``None``
  or empty results, never an exception.
* DIRAC's ``gConfig`` (for handlers ported from DIRAC): :meth:`~ConfigTree.getValue` with the
  conversion chosen by the default's type, and :meth:`~ConfigTree.getSections`,
  :meth:`~ConfigTree.getOptions`, :meth:`~ConfigTree.getOptionsDict` answering ``S_OK``/``S_ERROR``
  shaped dicts.

Paths are ``/``-separated (``/Systems/Tornado/Port``); as in DIRAC, empty parts and the spaces
around parts are ignored, so ``"Systems/Tornado/Port"`` is the same path.
Errors: :class:`ConfigError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias, TypeVar, overload

from tornadoservice.config.errors import ConfigError
from tornadoservice.config.formats import RawTree, read_config_file

__all__ = ["ConfigError", "ConfigTree", "OptionValue", "convert_value", "split_list"]

Scalar: TypeAlias = str | int | float | bool | None
OptionValue: TypeAlias = Scalar | Sequence[Scalar]
"""What :meth:`ConfigTree.set_option` and :meth:`ConfigTree.from_dict` accept for an option."""

TRUE_WORDS = frozenset({"y", "yes", "true", "1"})
"""DIRAC's words for true (compared lower-case); any other value converts to ``False``."""

_T = TypeVar("_T")


def split_list(value: str) -> list[str]:
    """DIRAC's list format: comma-separated, items stripped, empty items dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


def _split_path(path: str) -> list[str]:
    return [part.strip() for part in path.split("/") if part.strip()]


def _ok(value: Any) -> dict[str, Any]:
    # Plain dicts in DIRAC's S_OK/S_ERROR shape: this layer must not depend on core.returnvalues.
    return {"OK": True, "Value": value}


def _error(message: str) -> dict[str, Any]:
    return {"OK": False, "Errno": 0, "Message": message}


def _format_scalar(value: object, where: str) -> str:
    # bool before int: bool is an int subclass, and DIRAC reads "yes"/"no" back as booleans.
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return str(value)
    raise ConfigError(f"{where}: unsupported value type {type(value).__name__}")


def _format_value(value: object, where: str) -> str:
    # bytes are a Sequence too, but of ints: reject them rather than write "104, 105".
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
        return _format_scalar(value, where)
    return ", ".join(_format_scalar(item, where) for item in value)


def _normalise_mapping(data: Mapping[str, Any], where: str) -> RawTree:
    result: RawTree = {}
    for key, value in data.items():
        name = str(key).strip()
        path = f"{where}/{name}"
        if not name or "/" in name:
            raise ConfigError(f"{path}: invalid name {key!r}")
        result[name] = (
            _normalise_mapping(value, path)
            if isinstance(value, Mapping)
            else _format_value(value, path)
        )
    return result


def convert_value(value: str, default: Any) -> Any:
    """Convert an option string as DIRAC's ``gConfig.getValue`` does, by the default's type.

    ``default`` may be a value or a type: lists, tuples and sets split on commas (items stripped,
    empties dropped); ``bool`` is true for ``y``/``yes``/``true``/``1`` in any case and false for
    anything else (not the default); ``dict`` reads ``"a:1, b"`` as ``{"a": "1", "b": True}``;
    any other type is called on the string, and if that fails the default is returned.
    """
    wanted = default if isinstance(default, type) else type(default)
    # Exact types, as DIRAC compares them: a list subclass is constructed from the string.
    if wanted in (list, tuple, set):
        return wanted(split_list(value))
    if wanted is bool:
        return value.lower() in TRUE_WORDS
    if wanted is dict:
        pairs: dict[str, str | bool] = {}
        for item in split_list(value):
            key, *rest = (part.strip() for part in item.split(":"))
            pairs[key] = rest[0] if rest else True
        return pairs
    try:
        return wanted(value)
    except (TypeError, ValueError, ArithmeticError):
        return default


@dataclass(slots=True)
class _Section:
    options: dict[str, str] = field(default_factory=dict)
    origins: dict[str, Path | None] = field(default_factory=dict)
    sections: dict[str, _Section] = field(default_factory=dict)

    @classmethod
    def from_raw(cls, raw: RawTree, origin: Path | None) -> _Section:
        section = cls()
        for name, value in raw.items():
            if isinstance(value, str):
                section.options[name] = value
                section.origins[name] = origin
            else:
                section.sections[name] = cls.from_raw(value, origin)
        return section

    def copy(self) -> _Section:
        return _Section(
            dict(self.options),
            dict(self.origins),
            {name: sub.copy() for name, sub in self.sections.items()},
        )

    def merge(self, other: _Section, path: str, source: str) -> None:
        """Merge ``other`` into this section: its options win, sections merge recursively."""
        for name, value in other.options.items():
            if name in self.sections:
                here = other.origins[name]
                raise _kind_conflict(
                    f"{path}/{name}", "an option", "a section", str(here) if here else source
                )
            self.options[name] = value
            self.origins[name] = other.origins[name]
        for name, sub in other.sections.items():
            if name in self.options:
                raise _kind_conflict(
                    f"{path}/{name}", "a section", "an option", source, self.origins[name]
                )
            if name in self.sections:
                self.sections[name].merge(sub, f"{path}/{name}", source)
            else:
                self.sections[name] = sub.copy()

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = dict(self.options)
        result.update((name, sub.as_dict()) for name, sub in self.sections.items())
        return result


def _kind_conflict(
    path: str, here: str, before: str, source: str, before_origin: Path | None = None
) -> ConfigError:
    earlier = f" in {before_origin}" if before_origin is not None else " earlier"
    return ConfigError(f"{path} is {here} here but was {before}{earlier}", source=source)


class ConfigTree:
    """Sections and string options in DIRAC's layout, merged from files or built in code."""

    __slots__ = ("_root",)

    def __init__(self) -> None:
        self._root = _Section()

    # --- building ------------------------------------------------------------------------------

    @classmethod
    def load(cls, *paths: str | os.PathLike[str]) -> ConfigTree:
        """Load and merge files in order (later ones override); ``.yaml``/``.yml`` are YAML."""
        tree = cls()
        for name in paths:
            path = Path(name)
            raw = read_config_file(path)
            tree._root.merge(_Section.from_raw(raw, path.absolute()), "", str(path))
        return tree

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, origin: str | os.PathLike[str] | None = None
    ) -> ConfigTree:
        """Build a tree from nested mappings; values are normalised as for YAML files.

        ``origin`` is the file that relative paths in these options are relative to, if any.
        """
        tree = cls()
        origin_path = Path(origin).absolute() if origin is not None else None
        tree._root = _Section.from_raw(_normalise_mapping(data, ""), origin_path)
        return tree

    def merge(self, other: ConfigTree) -> None:
        """Merge ``other`` into this tree, in place; ``other``'s options win."""
        self._root.merge(other._root, "", "<merged configuration>")

    def copy(self) -> ConfigTree:
        """An independent copy (for code that adds options to a shared base)."""
        tree = ConfigTree()
        tree._root = self._root.copy()
        return tree

    def set_option(self, path: str, value: OptionValue) -> None:
        """Set an option, creating its sections; values are normalised as for YAML files."""
        *parents, name = _split_path(path) or [""]
        if not name:
            raise ConfigError(f"{path!r} is not an option path")
        section = self._root
        walked = ""
        for part in parents:
            walked += f"/{part}"
            if part in section.options:
                raise ConfigError(f"cannot set {path}: {walked} is an option, not a section")
            section = section.sections.setdefault(part, _Section())
        if name in section.sections:
            raise ConfigError(f"cannot set {path}: it is a section")
        section.options[name] = _format_value(value, path)
        section.origins[name] = None

    # --- reading -------------------------------------------------------------------------------

    def _section(self, path: str) -> _Section | None:
        section = self._root
        for part in _split_path(path):
            found = section.sections.get(part)
            if found is None:
                return None
            section = found
        return section

    def _option_parent(self, path: str) -> tuple[_Section, str] | None:
        parts = _split_path(path)
        if not parts:
            return None
        section = self._section("/".join(parts[:-1]))
        if section is None or parts[-1] not in section.options:
            return None
        return section, parts[-1]

    def get(self, path: str) -> str | None:
        """The option's string value, or ``None`` if there is no such option."""
        found = self._option_parent(path)
        return found[0].options[found[1]] if found is not None else None

    def has_option(self, path: str) -> bool:
        return self._option_parent(path) is not None

    def has_section(self, path: str) -> bool:
        return self._section(path) is not None

    def sections(self, path: str = "/") -> list[str]:
        """Names of the subsections, in definition order; empty if there is no such section."""
        section = self._section(path)
        return list(section.sections) if section is not None else []

    def options(self, path: str = "/") -> dict[str, str]:
        """The section's options (a copy); empty if there is no such section."""
        section = self._section(path)
        return dict(section.options) if section is not None else {}

    def origin(self, path: str) -> Path | None:
        """The file (absolute) that gave the option its current value; ``None`` if set in code."""
        found = self._option_parent(path)
        return found[0].origins[found[1]] if found is not None else None

    def resolve_path(self, path: str) -> Path | None:
        """The option read as a file path, a relative one taken from its file's directory.

        ``None`` if the option is missing. An option set in code keeps a relative path as is
        (relative to the current directory).
        """
        value = self.get(path)
        if value is None:
            return None
        file_path = Path(value)
        origin = self.origin(path)
        if file_path.is_absolute() or origin is None:
            return file_path
        return origin.parent / file_path

    def as_dict(self) -> dict[str, Any]:
        """The whole tree as nested dicts of strings (options first in each section)."""
        return self._root.as_dict()

    def __repr__(self) -> str:
        return f"<ConfigTree sections={self.sections()!r}>"

    # --- DIRAC's gConfig interface -------------------------------------------------------------

    @overload
    def getValue(self, optionPath: str, defaultValue: None = None) -> str | None: ...
    @overload
    def getValue(self, optionPath: str, defaultValue: list[str]) -> list[str]: ...
    @overload
    def getValue(self, optionPath: str, defaultValue: _T) -> _T: ...

    def getValue(self, optionPath: str, defaultValue: Any = None) -> Any:
        """DIRAC's ``gConfig.getValue``: the option converted like ``defaultValue`` (see
        :func:`convert_value`), or ``defaultValue`` itself when the option is missing."""
        value = self.get(optionPath)
        if value is None:
            return defaultValue
        if defaultValue is None:
            return value
        return convert_value(value, defaultValue)

    def getSections(self, sectionPath: str, listOrdered: bool = True) -> dict[str, Any]:
        """DIRAC's ``gConfig.getSections``: ``S_OK([names])`` or an ``S_ERROR`` dict.

        ``listOrdered`` is accepted for compatibility: names always come in definition order.
        """
        section = self._section(sectionPath)
        if section is None:
            return _error(f"Path {sectionPath} does not exist or it's not a section")
        return _ok(list(section.sections))

    def getOptions(self, sectionPath: str, listOrdered: bool = True) -> dict[str, Any]:
        """DIRAC's ``gConfig.getOptions``: ``S_OK([option names])`` or an ``S_ERROR`` dict."""
        section = self._section(sectionPath)
        if section is None:
            return _error(f"Path {sectionPath} does not exist or it's not a section")
        return _ok(list(section.options))

    def getOptionsDict(self, sectionPath: str) -> dict[str, Any]:
        """DIRAC's ``gConfig.getOptionsDict``: ``S_OK({name: value})`` or an ``S_ERROR`` dict."""
        section = self._section(sectionPath)
        if section is None:
            return _error(f"Path {sectionPath} does not exist or it's not a section")
        return _ok(dict(section.options))
