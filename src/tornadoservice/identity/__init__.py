"""The identity layer: who is calling, from TLS certificates (grid proxies included).

Modules, by job:

* :mod:`.tls`: server and client ``SSLContext``\\ s, and the verified peer chain of a connection;
* :mod:`.x509`: the :class:`X509Identity` of a verified chain (proxies, groups, VOMS);
* :mod:`.dn`: DNs in DIRAC's slash form; :mod:`.cadir`: hashed CA directories;
* :mod:`.proxy`: RFC 3820 proxies; :mod:`.voms`: VOMS attributes; :mod:`.pki`: a development PKI;
* :mod:`.pem`: PEM files (private keys written 0600); :mod:`.der`: the DER the others need.
"""

from .cadir import subject_hash, write_hashed_ca_dir
from .credentials import X509Identity
from .dn import DNError, dirac_dn, parse_dirac_dn
from .pem import PemError, load_pem_chain, write_certificates, write_private_key
from .pki import make_ca, make_crl, make_host_cert, make_user_cert
from .proxy import ProxyError, make_proxy, write_proxy_file
from .tls import (
    PeerChainError,
    TLSConfigError,
    client_ssl_context,
    peer_chain,
    server_ssl_context,
)
from .voms import VomsAttributes, VomsError, voms_attributes
from .x509 import IdentityError, identity_from_chain

__all__ = [
    "DNError",
    "IdentityError",
    "PeerChainError",
    "PemError",
    "ProxyError",
    "TLSConfigError",
    "VomsAttributes",
    "VomsError",
    "X509Identity",
    "client_ssl_context",
    "dirac_dn",
    "identity_from_chain",
    "load_pem_chain",
    "make_ca",
    "make_crl",
    "make_host_cert",
    "make_proxy",
    "make_user_cert",
    "parse_dirac_dn",
    "peer_chain",
    "server_ssl_context",
    "subject_hash",
    "voms_attributes",
    "write_certificates",
    "write_hashed_ca_dir",
    "write_private_key",
    "write_proxy_file",
]
