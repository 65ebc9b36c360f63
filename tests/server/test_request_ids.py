"""Request ids made by the server: 24 hex digits, never the same twice, also across a fork."""

from __future__ import annotations

import os
import re

from tornado.httputil import HTTPHeaders

from tornadoservice.server.accesslog import new_request_id, request_id


def test_made_ids_are_24_hex_digits_and_all_different() -> None:
    made = [request_id(HTTPHeaders()) for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{24}", rid) for rid in made)
    assert len(set(made)) == len(made)


def test_a_sane_caller_id_is_kept_and_an_insane_one_replaced() -> None:
    assert request_id(HTTPHeaders({"X-Request-ID": "abc-123"})) == "abc-123"
    replaced = request_id(HTTPHeaders({"X-Request-ID": "bad id\x1b"}))
    assert re.fullmatch(r"[0-9a-f]{24}", replaced)


def test_a_forked_worker_makes_other_ids_than_its_parent() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its ids, written back to the parent
        try:
            os.write(write, ",".join(new_request_id() for _ in range(100)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split(",")
    os.waitpid(pid, 0)
    parent = [new_request_id() for _ in range(100)]
    assert len(child) == 100
    assert not set(child) & set(parent)
    assert {rid[:16] for rid in child}.isdisjoint({rid[:16] for rid in parent})
