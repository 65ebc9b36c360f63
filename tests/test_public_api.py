"""The public API is exactly what __all__ lists, and each name is importable."""

import tornadoservice
from tornadoservice.server import accessors

EXPECTED = {
    "S_ERROR",
    "S_OK",
    "ConfigError",
    "ConfigTree",
    "DReturnType",
    "JEncodeError",
    "JSerializable",
    "Registry",
    "SErrorException",
    "ServerStartError",
    "TornadoClient",
    "TornadoServer",
    "TornadoService",
    "TornadoServiceError",
    "__version__",
    "authentication",
    "authorization",
    "convertToReturnValue",
    "decode",
    "encode",
    "isReturnStructure",
    "isSError",
    "register_serializable",
    "returnValueOrRaise",
}


def test_all_is_the_documented_api() -> None:
    assert set(tornadoservice.__all__) == EXPECTED
    assert len(tornadoservice.__all__) == len(EXPECTED)


def test_every_exported_name_exists() -> None:
    for name in tornadoservice.__all__:
        assert getattr(tornadoservice, name) is not None, name


def test_ping_reports_the_package_version() -> None:
    assert tornadoservice.__version__ == accessors._VERSION
