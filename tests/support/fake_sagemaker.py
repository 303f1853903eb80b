"""A test-only fake SageMaker endpoint: moto's server plus the two app calls the daemon makes.

moto 5.2.5 has no Studio apps: it answers ``DeleteApp`` with an HTML 500 that botocore retries,
so a test against stock moto would exercise the error path, not the delete. This module

* adds ``DescribeApp`` and ``DeleteApp`` to moto's SageMaker handler, over a table of apps the
  tests seed, and fails loudly if moto ever ships either itself;
* wraps moto's WSGI app in a middleware that logs each SageMaker call and can answer the next
  calls of an operation with an AWS-shaped JSON error, so botocore's real retries run over HTTP;
* offers :class:`FakeSageMaker` for pytest, and a command line for the e2e image::

      python fake_sagemaker.py --host 127.0.0.1 --port 5000 \\
          [--seed-app DOMAIN_ID/SPACE_NAME/APP_TYPE/APP_NAME[@REGION]]...

An app is ``InService`` until ``DeleteApp`` makes it ``Deleting``, where it stays (a real deletion
takes minutes). ``DeleteApp`` of a ``Deleting`` app answers ``ResourceInUse``; of a ``Deleted``
or unknown one, ``ResourceNotFound``. ``DescribeApp`` gives the status, or ``ResourceNotFound``.

Control routes, for the e2e image (JSON in, JSON out):

========================  ==================================================================
``POST /_fake/faults``    queue ``{"operation", "code", "status"=400, "message"="", "count"=1}``
                          (``count`` -1: forever)
``DELETE /_fake/faults``  drop the queued faults
``GET /_fake/calls``      ``[{"operation", "time", "status"}]``, oldest first
``GET /_fake/apps``       ``[{"Region", "DomainId", "SpaceName", "AppType", "AppName", "Status"}]``
========================  ==================================================================

It imports only the standard library and moto[server] (with werkzeug), because it is also
copied alone into the e2e image.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import astuple, dataclass
from types import TracebackType
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import camelcase_to_underscores
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound
from moto.sagemaker.responses import SageMakerResponse
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

__all__ = ["STATUSES", "FakeSageMaker", "install", "main"]

STATUSES = ("InService", "Deleting", "Deleted")
_MARK = "_fake_sagemaker_app_call"  # set on each handler this module installs on moto


# --------------------------------------------------------------------------------------------
# The apps, and the two operations moto lacks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AppKey:
    region: str
    domain_id: str
    space_name: str  # or the user profile's name: the one owner the call names
    app_type: str
    app_name: str


class _Apps:
    """Each seeded app's status, process-wide (moto's handlers are too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: dict[_AppKey, str] = {}

    def seed(self, key: _AppKey, status: str = "InService") -> None:
        """Put an app in (replacing one under the same key)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        with self._lock:
            self._status[key] = status

    def status(self, key: _AppKey) -> str | None:
        """The app's status, or None if it was never seeded."""
        with self._lock:
            return self._status.get(key)

    def start_deleting(self, key: _AppKey) -> str | None:
        """Make an InService app Deleting; return the status it had (None: unknown)."""
        with self._lock:
            before = self._status.get(key)
            if before == "InService":
                self._status[key] = "Deleting"
            return before

    def clear(self) -> None:
        """Forget every app."""
        with self._lock:
            self._status.clear()

    def as_json(self) -> list[dict[str, str]]:
        """Every app and its status."""
        fields = ("Region", "DomainId", "SpaceName", "AppType", "AppName")
        with self._lock:
            items = list(self._status.items())
        return [{**dict(zip(fields, astuple(key), strict=True)), "Status": s} for key, s in items]


APPS = _Apps()


def _called_app(handler: SageMakerResponse) -> tuple[_AppKey, str]:
    """The app a DescribeApp/DeleteApp call names, and its ARN (for messages)."""
    param = handler._get_param
    key = _AppKey(
        handler.region,
        str(param("DomainId") or ""),
        str(param("SpaceName") or param("UserProfileName") or ""),
        str(param("AppType") or ""),
        str(param("AppName") or ""),
    )
    arn = (
        f"arn:{handler.partition}:sagemaker:{key.region}:{handler.current_account}:app/"
        f"{key.domain_id}/{key.space_name}/{key.app_type.lower()}/{key.app_name}"
    )
    return key, arn


def _describe_app(self: SageMakerResponse) -> ActionResult:
    key, arn = _called_app(self)
    status = APPS.status(key)
    if status is None:
        raise ResourceNotFound(f"App {arn} does not exist.")
    owner = "SpaceName" if self._get_param("SpaceName") else "UserProfileName"
    return ActionResult(
        {
            "AppArn": arn,
            "DomainId": key.domain_id,
            owner: key.space_name,
            "AppType": key.app_type,
            "AppName": key.app_name,
            "Status": status,
        }
    )


def _delete_app(self: SageMakerResponse) -> ActionResult:
    key, arn = _called_app(self)
    before = APPS.start_deleting(key)
    if before in (None, "Deleted"):
        raise ResourceNotFound(f"App {arn} does not exist.")
    if before == "Deleting":
        raise ResourceInUseException(f"App {arn} is being deleted (status Deleting).")
    return EmptyResult()


_HANDLERS: dict[str, Callable[[SageMakerResponse], ActionResult]] = {
    "DescribeApp": _describe_app,
    "DeleteApp": _delete_app,
}


def install() -> None:
    """Register the app calls on moto's ``SageMakerResponse`` (idempotent).

    moto dispatches a JSON-protocol call to the handler method named
    ``camelcase_to_underscores(<X-Amz-Target operation>)``. If moto already has one of these
    methods itself, this raises :class:`RuntimeError`: moto has caught up, and the fake should go.
    """
    for operation, handler in _HANDLERS.items():
        name = camelcase_to_underscores(operation)
        existing = getattr(SageMakerResponse, name, None)
        if existing is not None and not getattr(existing, _MARK, False):
            raise RuntimeError(
                f"moto now implements SageMaker {operation} (SageMakerResponse.{name}); "
                "use moto's own and drop it from tests/support/fake_sagemaker.py."
            )
        setattr(handler, _MARK, True)
        setattr(SageMakerResponse, name, handler)


install()


# --------------------------------------------------------------------------------------------
# The endpoint: moto's WSGI app wrapped with the call log, faults and control routes
# --------------------------------------------------------------------------------------------


@dataclass
class _Fault:
    operation: str
    code: str
    status: int
    message: str
    count: int  # answers left; -1 = forever


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status=status, mimetype="application/json")


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class FakeSageMaker:
    """A fake SageMaker endpoint over real HTTP: moto's WSGI app, served on a thread by moto's
    request handler, with each SageMaker call logged and queued faults answered first.

    The apps are process-wide (two instances in one process share them); the faults and the
    call log belong to each instance.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> None:
        """Prepare a server on ``host``:``port`` (0 picks a free port); :meth:`start` runs it."""
        self.host = host
        self.port = port
        self.quiet = quiet
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._calls: list[dict[str, Any]] = []
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Listen, and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("FakeSageMaker already started")
        handler = _QuietHandler if self.quiet else MotoRequestHandler
        self._server = make_server(
            self.host, self.port, self, threaded=True, request_handler=handler
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (safe to call twice)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> FakeSageMaker:
        """Start, and return self."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop."""
        self.stop()

    @property
    def endpoint_url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("FakeSageMaker is not started")
        return f"http://{self.host}:{self.port}"

    # -- what tests set and read ---------------------------------------------------------------

    def reset(self) -> None:
        """Forget every app, fault and call."""
        APPS.clear()
        with self._lock:
            self._faults.clear()
            self._calls.clear()

    def add_app(
        self,
        domain_id: str,
        *,
        space_name: str,
        app_type: str = "CodeEditor",
        app_name: str = "default",
        region: str = "us-east-1",
        status: str = "InService",
    ) -> None:
        """Seed an app (replacing one under the same key)."""
        APPS.seed(_AppKey(region, domain_id, space_name, app_type, app_name), status)

    def app_status(
        self,
        domain_id: str,
        *,
        space_name: str,
        app_type: str = "CodeEditor",
        app_name: str = "default",
        region: str = "us-east-1",
    ) -> str | None:
        """The app's status (``InService``, ``Deleting``, ``Deleted``), or None if unknown."""
        return APPS.status(_AppKey(region, domain_id, space_name, app_type, app_name))

    def inject(
        self, operation: str, code: str, *, status: int = 400, message: str = "", count: int = 1
    ) -> None:
        """Answer the next ``count`` calls (-1: all) of ``operation`` with error ``code``."""
        if not operation or not code:
            raise ValueError("operation and code are required")
        if not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx HTTP status")
        if count == 0 or count < -1:
            raise ValueError("count must be positive, or -1 for forever")
        with self._lock:
            self._faults.append(_Fault(operation, code, status, message, count))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def calls(self, operation: str | None = None) -> list[dict[str, Any]]:
        """The SageMaker calls seen so far, oldest first, optionally of one operation only."""
        with self._lock:
            return [
                dict(c) for c in self._calls if operation is None or c["operation"] == operation
            ]

    # -- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve /_fake/ routes, log SageMaker calls and inject faults, pass the rest to moto."""
        if str(environ.get("PATH_INFO", "")).startswith("/_fake/"):
            return self._control(Request(environ))(environ, start_response)
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if not target.startswith("SageMaker."):
            return self._moto(environ, start_response)

        operation = target.split(".", 1)[1]
        record: dict[str, Any] = {"operation": operation, "time": time.time(), "status": None}
        with self._lock:
            self._calls.append(record)
        fault = self._take_fault(operation)
        if fault is not None:
            record["status"] = fault.status
            error = Response(
                json.dumps({"__type": fault.code, "message": fault.message}),
                status=fault.status,
                content_type="application/x-amz-json-1.1",
                headers={"x-amzn-ErrorType": fault.code, "x-amzn-RequestId": str(uuid.uuid4())},
            )
            return error(environ, start_response)

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            record["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        return self._moto(environ, recording_start_response)

    def _take_fault(self, operation: str) -> _Fault | None:
        with self._lock:
            fault = next((f for f in self._faults if f.operation == operation), None)
            if fault is not None and fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    self._faults.remove(fault)
            return fault

    def _control(self, request: Request) -> Response:
        route = (request.method, request.path.rstrip("/"))
        if route == ("POST", "/_fake/faults"):
            body = request.get_json(force=True, silent=True)
            if not isinstance(body, dict):
                return _json({"error": "the body must be a JSON object"}, 400)
            try:
                self.inject(
                    str(body.get("operation") or ""),
                    str(body.get("code") or ""),
                    status=int(body.get("status", 400)),
                    message=str(body.get("message") or ""),
                    count=int(body.get("count", 1)),
                )
            except (TypeError, ValueError) as exc:
                return _json({"error": str(exc)}, 400)
            return _json({"ok": True})
        if route == ("DELETE", "/_fake/faults"):
            self.clear_faults()
            return _json({"ok": True})
        if route == ("GET", "/_fake/calls"):
            return _json(self.calls())
        if route == ("GET", "/_fake/apps"):
            return _json(APPS.as_json())
        return _json({"error": f"no route {request.method} {request.path}"}, 404)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse_seed(text: str) -> _AppKey:
    spec, _, region = text.partition("@")
    parts = spec.split("/")
    if len(parts) != 4 or not all(parts):
        raise argparse.ArgumentTypeError(
            f"--seed-app wants DOMAIN_ID/SPACE_NAME/APP_TYPE/APP_NAME[@REGION], got {text!r}"
        )
    return _AppKey(region or "us-east-1", *parts)


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to bind; 0 = any (5000)")
    parser.add_argument(
        "--seed-app",
        action="append",
        type=_parse_seed,
        default=[],
        metavar="DOMAIN_ID/SPACE_NAME/APP_TYPE/APP_NAME[@REGION]",
        help="an InService app to hold from the start (repeatable)",
    )
    args = parser.parse_args(argv)
    for key in args.seed_app:
        APPS.seed(key)

    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # the server thread inherits it
    fake = FakeSageMaker(args.host, args.port, quiet=False)
    fake.start()
    print(f"fake-sagemaker listening on {fake.endpoint_url}", flush=True)
    signal.sigwait(stop_signals)
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
