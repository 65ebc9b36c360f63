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


def test_the_version_is_defined_once() -> None:
    import importlib.metadata

    assert importlib.metadata.version("tornadoservice") == tornadoservice.__version__


def test_importing_the_package_does_not_import_the_client_stack() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tornadoservice; "
        "print(sorted(m for m in ('requests', 'urllib3', 'tornadoservice.client.tornadoclient') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert tornadoservice.TornadoClient.__name__ == "TornadoClient"
