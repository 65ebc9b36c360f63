"""Who a verified certificate chain says the caller is: :func:`identity_from_chain`.

The chain comes leaf first, as the TLS layer gives it (:func:`.tls.peer_chain`): for a grid user
``[proxy, ..., user certificate, (intermediate CAs), root CA]``. The rules, DIRAC's unless noted:

* ``subject``/``issuer`` are the leaf's; ``is_proxy`` says whether the leaf is a proxy (RFC 3820
  proxyCertInfo, or a legacy ``CN=proxy``/``CN=limited proxy`` proxy).
* ``dn`` (the identity) is the subject of the first certificate that is not a proxy, the
  end-entity certificate, **except** that an *independent* proxy (id-ppl-independent) does not
  inherit its issuer's identity: RFC 3820 gives it an identity of its own, its subject. Proxies
  issued from it act as that subject. DIRAC does not know this policy and would hand out the
  user's identity.
* ``is_limited_proxy``: any proxy in the chain has the limited policy (a limited proxy cannot
  issue a full one).
* ``group``: the DIRAC group extension of the proxy *closest to the identity certificate* that
  carries one, as DIRAC reads it: the group chosen when the user made the proxy stays, and
  whoever holds a delegated proxy cannot switch to another group by adding a proxy of their own.
* ``not_after``: the earliest notAfter of *every* certificate in the chain, CAs included: the
  chain stops verifying when its first certificate expires.
* ``vo``/``fqans``: from the VOMS attribute certificate of the proxy nearest the leaf that has
  one, while the AC is within its validity. Without ``voms_trust`` they are DIRAC's unchecked
  claims; with it, only attributes that :func:`.voms.verify_voms` accepts are reported.
  :func:`voms_from_chain` says which, and why not: ``X509Identity`` itself cannot carry it, so
  an authorization layer that needs to know calls that function on the same chain.

Proxies with any other policy language are refused: RFC 3820 forbids acting on a policy one does
not understand, and treating it as full impersonation would grant more than it was meant to.
The chain's signatures are OpenSSL's job; this module still checks its links (issuer names,
proxy naming, path length) so that it is safe to use on a chain from elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from cryptography import x509
from cryptography.x509.oid import NameOID

from .cadir import names_match
from .credentials import X509Identity
from .dn import dirac_dn
from .proxy import (
    POLICY_INDEPENDENT,
    POLICY_INHERIT_ALL,
    POLICY_LIMITED,
    ProxyError,
    ProxyInfo,
    dirac_group,
    proxy_info,
)
from .voms import (
    VOMS_AC_OID,
    VomsError,
    VomsTrust,
    decode_voms_extension,
    verify_voms,
)

KNOWN_POLICIES = frozenset({POLICY_INHERIT_ALL, POLICY_LIMITED, POLICY_INDEPENDENT})


class IdentityError(ValueError):
    """The certificate chain cannot be turned into an identity."""


def _check_proxy_naming(cert: x509.Certificate) -> None:
    rdns = cert.subject.rdns
    last = list(rdns[-1]) if rdns else []
    if (
        not names_match(x509.Name(rdns[:-1]), cert.issuer)
        or len(last) != 1
        or last[0].oid != NameOID.COMMON_NAME
    ):
        raise IdentityError(
            f"proxy {dirac_dn(cert.subject)} is not named after its issuer plus one CN"
        )


def _proxy_chain(chain: Sequence[x509.Certificate]) -> list[ProxyInfo]:
    """The proxy facts of the proxies at the head of ``chain``, leaf first."""
    proxies: list[ProxyInfo] = []
    for index, cert in enumerate(chain):
        try:
            info = proxy_info(cert)
        except ProxyError as exc:
            raise IdentityError(str(exc)) from exc
        if info is None:
            return proxies
        if info.policy_language not in KNOWN_POLICIES:
            raise IdentityError(
                f"proxy {dirac_dn(cert.subject)} has the unsupported policy language "
                f"{info.policy_language}"
            )
        if info.path_length is not None and index > info.path_length:
            raise IdentityError(
                f"proxy {dirac_dn(cert.subject)} allows {info.path_length} proxies below it, "
                f"the chain has {index}"
            )
        _check_proxy_naming(cert)
        proxies.append(info)
    raise IdentityError("the chain has proxies but not the certificate that issued them")


@dataclass(frozen=True, slots=True)
class VomsResult:
    """What the VOMS attribute certificate of a chain is worth.

    ``vo``/``fqans`` are what :func:`identity_from_chain` reports for the same arguments:
    unchecked claims when no trust was given (``verified`` is false, ``reason`` says so),
    nothing when verification failed (``reason`` says why), the attributes when ``verified``.
    """

    vo: str | None
    fqans: tuple[str, ...] = field(default=())
    verified: bool = False
    reason: str | None = None
    """Why ``verified`` is false."""


UNVERIFIED_REASON = "no VOMS trust configured: the attributes are unchecked claims"


def _check_links(chain: Sequence[x509.Certificate]) -> list[ProxyInfo]:
    if not chain:
        raise IdentityError("empty certificate chain")
    for child, parent in pairwise(chain):
        if not names_match(child.issuer, parent.subject):
            raise IdentityError(
                f"{dirac_dn(child.subject)} was not issued by {dirac_dn(parent.subject)}"
            )
    return _proxy_chain(chain)


def _acting_proxies(
    chain: Sequence[x509.Certificate], proxies: list[ProxyInfo]
) -> tuple[int, list[x509.Certificate]]:
    """The index of the identity certificate, and the proxies acting for that identity,
    nearest the identity certificate first."""
    end_entity = len(proxies)
    identity_index = next(
        (index for index, info in enumerate(proxies) if info.independent), end_entity
    )
    acting = [chain[index] for index in reversed(range(min(identity_index + 1, end_entity)))]
    return identity_index, acting


def _voms(
    chain: Sequence[x509.Certificate],
    proxies: list[ProxyInfo],
    acting: list[x509.Certificate],
    trust: VomsTrust | None,
    now: dt.datetime,
) -> VomsResult | None:
    extension = next((found for cert in reversed(acting) if (found := _voms_extension(cert))), None)
    if extension is None:
        return None
    try:
        attributes = decode_voms_extension(extension)
    except VomsError as exc:
        raise IdentityError(str(exc)) from exc
    if trust is None:
        if not attributes.valid_at(now):
            return VomsResult(None, reason="the VOMS attributes are outside their validity")
        return VomsResult(attributes.vo, attributes.fqans, reason=UNVERIFIED_REASON)
    try:
        # The AC is bound to the end-entity certificate, the one that asked the VOMS server.
        verify_voms(extension, trust, holder=chain[len(proxies)], now=now)
    except VomsError as exc:  # VomsVerificationError, or malformed beyond the attributes
        return VomsResult(None, reason=str(exc))
    return VomsResult(attributes.vo, attributes.fqans, verified=True)


def _voms_extension(cert: x509.Certificate) -> bytes | None:
    try:
        extension = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(VOMS_AC_OID))
    except x509.ExtensionNotFound:
        return None
    return extension.value.public_bytes()


def voms_from_chain(
    chain: Sequence[x509.Certificate],
    trust: VomsTrust | None,
    *,
    now: dt.datetime | None = None,
) -> VomsResult | None:
    """The VOMS attributes of a chain (leaf first) and whether they were verified against
    ``trust``; ``None`` if no acting proxy carries an AC.

    Which AC counts follows :func:`identity_from_chain`. Raises :class:`IdentityError` for an
    inconsistent chain or a malformed AC (an AC that fails verification is a result, not an
    error: the caller is still who the chain says).
    """
    proxies = _check_links(chain)
    _, acting = _acting_proxies(chain, proxies)
    return _voms(chain, proxies, acting, trust, now or dt.datetime.now(dt.UTC))


def identity_from_chain(
    chain: Sequence[x509.Certificate],
    *,
    now: dt.datetime | None = None,
    voms_trust: VomsTrust | None = None,
) -> X509Identity:
    """The :class:`X509Identity` of a verified chain, leaf first (rules in the module doc).

    ``now`` decides whether a VOMS attribute certificate is current (default: the real time).
    With ``voms_trust``, ``vo``/``fqans`` are set only for a verified AC
    (:func:`voms_from_chain` tells why not). Raises :class:`IdentityError` for an empty or
    inconsistent chain, a malformed grid extension, or a proxy policy this package does not
    understand.
    """
    proxies = _check_links(chain)
    identity_index, acting = _acting_proxies(chain, proxies)
    try:
        group = next((found for cert in acting if (found := dirac_group(cert))), None)
    except ProxyError as exc:
        raise IdentityError(str(exc)) from exc
    voms = _voms(chain, proxies, acting, voms_trust, now or dt.datetime.now(dt.UTC))
    vo, fqans = (None, ()) if voms is None else (voms.vo, voms.fqans)

    leaf = chain[0]
    return X509Identity(
        subject=dirac_dn(leaf.subject),
        issuer=dirac_dn(leaf.issuer),
        dn=dirac_dn(chain[identity_index].subject),
        is_proxy=bool(proxies),
        is_limited_proxy=any(info.limited for info in proxies),
        not_after=min(cert.not_valid_after_utc for cert in chain),
        group=group,
        vo=vo,
        fqans=fqans,
    )
