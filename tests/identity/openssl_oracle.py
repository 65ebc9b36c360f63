"""Independent answers from OpenSSL itself, to check the pure-Python implementations against.

``X509_NAME_oneline`` has no command-line equivalent (``-nameopt compat`` rewrites separators),
so it is called through ``ctypes`` in the libcrypto that Python's ``ssl`` module uses. Hashes
are cross-checked with the ``openssl`` command.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

_path = ctypes.util.find_library("crypto")
assert _path is not None, "libcrypto not found"
_libcrypto = ctypes.CDLL(_path)
_libcrypto.d2i_X509_NAME.restype = ctypes.c_void_p
_libcrypto.d2i_X509_NAME.argtypes = [
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_char_p),
    ctypes.c_long,
]
_libcrypto.X509_NAME_oneline.restype = ctypes.c_void_p
_libcrypto.X509_NAME_oneline.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
_libcrypto.X509_NAME_free.argtypes = [ctypes.c_void_p]
_libcrypto.CRYPTO_free.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]


def openssl_oneline(name_der: bytes) -> str:
    """``X509_NAME_oneline`` of a DER name, as OpenSSL computes it."""
    buffer = ctypes.c_char_p(name_der)
    name = _libcrypto.d2i_X509_NAME(None, ctypes.byref(buffer), len(name_der))
    assert name, "OpenSSL could not parse the name"
    try:
        text = _libcrypto.X509_NAME_oneline(name, None, 0)
        assert text
        try:
            return ctypes.string_at(text).decode("ascii")
        finally:
            _libcrypto.CRYPTO_free(text, None, 0)
    finally:
        _libcrypto.X509_NAME_free(name)


def openssl_subject_hash(cert: x509.Certificate, workdir: Path) -> str:
    """``openssl x509 -hash`` of a certificate."""
    path = workdir / f"hash-{cert.serial_number}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    result = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()
