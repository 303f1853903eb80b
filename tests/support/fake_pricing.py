"""A test-only fake of the AWS Price List API's ``GetProducts`` over real HTTP (moto has none).

Each request is checked against botocore's ``pricing`` model (the checker of
:mod:`tests.support.fake_sagemaker`), and it is strict where AWS documents nothing:

* ``ServiceCode`` must be ``AmazonSageMaker`` (the only one seeded);
* a filter's ``Field`` must be an attribute the seeded products have (an unknown one is an
  ``InvalidParameterException``, not an empty answer that would hide a misspelling);
* only ``TERM_MATCH`` filters are understood;
* ``MaxResults`` (default 100) pages the answer with a ``NextToken``.

Products look like the Price List's: a JSON *string* per product, with ``product.attributes``
(``regionCode``, ``instanceName``, ``instanceType``, ``platoinstancetype``, ``component``,
``productFamily`` "ML Instance") and ``terms.OnDemand`` in USD per ``Hrs``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from tests.support.fake_sagemaker import _check_shape

__all__ = ["FakePricing"]

ATTRIBUTES = {
    "regionCode", "instanceName", "instanceType", "platoinstancetype", "component",
    "productFamily", "location", "usagetype", "servicecode",
}  # fmt: skip


def _model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("pricing")


class FakePricing:
    """``GetProducts`` over products a test seeds; the calls are logged."""

    def __init__(self) -> None:
        """Prepare (``start`` serves on a free port)."""
        self._lock = threading.Lock()
        self._products: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        #: An error code to answer every call with (e.g. ``AccessDeniedException``), or None.
        self.fail_with: str | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._model = _model()

    def add_price(
        self, region: str, instance_type: str, usd: float, component: str = "studio-codeeditor"
    ) -> None:
        """Seed one product: ``instance_type`` in ``region`` for ``component`` at ``usd``/hour."""
        sku = f"SKU{len(self._products):04d}"
        product = {
            "product": {
                "productFamily": "ML Instance",
                "sku": sku,
                "attributes": {
                    "regionCode": region,
                    "instanceName": instance_type,
                    "instanceType": instance_type,
                    "platoinstancetype": component,
                    "component": component,
                    "productFamily": "ML Instance",
                    "servicecode": "AmazonSageMaker",
                    "usagetype": f"{region}-{component}:{instance_type}",
                },
            },
            "serviceCode": "AmazonSageMaker",
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "sku": sku,
                        "priceDimensions": {
                            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                                "unit": "Hrs",
                                "pricePerUnit": {"USD": f"{usd:.10f}"},
                                "description": f"${usd} per hour for {component} {instance_type}",
                            }
                        },
                    }
                }
            },
            "version": "20261101000000",
            "publicationDate": "2026-11-01T00:00:00Z",
        }
        with self._lock:
            self._products.append(product)

    # -- serving -------------------------------------------------------------------------------

    def start(self) -> None:
        """Listen on 127.0.0.1 and a free port, on a thread."""
        self._server = make_server("127.0.0.1", 0, self, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakePricing:
        """Start, and return self."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop."""
        self.stop()

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Answer one JSON-protocol call."""
        request = Request(environ)
        target = request.headers.get("X-Amz-Target", "")
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            body = None
        with self._lock:
            self.calls.append({"target": target, "params": body})
        if target != "AWSPriceListService.GetProducts":
            response = _error("UnknownOperationException", f"not faked: {target}")
        elif self.fail_with:
            response = _error(self.fail_with, "denied by the test", 400)
        else:
            response = self._get_products(body)
        return response(environ, start_response)

    def _get_products(self, body: Any) -> Response:
        errors: list[str] = []
        _check_shape(self._model.operation_model("GetProducts").input_shape, body, "GetProducts",
                     errors)  # fmt: skip
        if errors:
            return _error("ValidationException", "; ".join(errors))
        if body.get("ServiceCode") != "AmazonSageMaker":
            return _error("NotFoundException", f"no service {body.get('ServiceCode')!r}")
        filters = body.get("Filters") or []
        for f in filters:
            if f["Field"] not in ATTRIBUTES:
                return _error("InvalidParameterException", f"unknown attribute {f['Field']!r}")
            if f["Type"] != "TERM_MATCH":
                return _error("InvalidParameterException", f"{f['Type']} is not faked")
        with self._lock:
            found = [
                p
                for p in self._products
                if all(p["product"]["attributes"].get(f["Field"]) == f["Value"] for f in filters)
            ]
        start = int(body.get("NextToken") or 0)
        size = int(body.get("MaxResults") or 100)
        page: dict[str, Any] = {
            "FormatVersion": "aws_v1",
            "PriceList": [json.dumps(p) for p in found[start : start + size]],
        }
        if start + size < len(found):
            page["NextToken"] = str(start + size)
        return Response(json.dumps(page), content_type="application/x-amz-json-1.1")


def _error(code: str, message: str, status: int = 400) -> Response:
    return Response(
        json.dumps({"__type": code, "message": message}),
        status=status,
        content_type="application/x-amz-json-1.1",
        headers={"x-amzn-ErrorType": code},
    )
