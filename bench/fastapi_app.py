"""The FastAPI target (optional: ``pip install -e '.[bench]'``), imported only when it runs.

No ``from __future__ import annotations`` here: FastAPI reads the ``Annotated`` parameter types
at run time to know that ``method`` and ``args`` are form fields.
"""

import json
import socket
import ssl
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Form
from fastapi.responses import JSONResponse

from bench.baseline import answer


def make_app(path: str) -> FastAPI:
    app = FastAPI()

    @app.post(path)
    async def bench(
        method: Annotated[str, Form()], args: Annotated[str, Form()] = "[]"
    ) -> JSONResponse:
        # uvicorn does not hand the peer certificate to the application: whoami answers None.
        try:
            result = answer(method, json.loads(args), None)
        except LookupError:
            return JSONResponse({"OK": False, "Message": method}, status_code=501)
        return JSONResponse(result)

    return app


def serve(path: str, sock: socket.socket, context: ssl.SSLContext) -> None:
    """Serve on ``sock`` with ``context`` until SIGTERM (uvicorn handles the signal)."""
    config = uvicorn.Config(make_app(path), log_level="warning", access_log=False, lifespan="off")
    config.load()
    config.ssl = context  # the same context as the other targets, not one built by uvicorn
    uvicorn.Server(config).run(sockets=[sock])
