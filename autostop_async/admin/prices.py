"""On-demand prices of Code Editor instance types: a ``--prices FILE`` (negotiated rates), or the
AWS Price List API (``pricing:GetProducts``), kept in a local cache with the date it was read.

The Price List holds SageMaker's instance prices as products of ``ServiceCode=AmazonSageMaker``,
``productFamily`` "ML Instance", with the attributes ``regionCode``, ``instanceName`` (such as
``ml.t3.medium``) and the component the price is for: Code Editor's is ``studio-codeeditor``
(attribute ``platoinstancetype``; some products also say it as ``component``). A query filters
on region and instance name (``TERM_MATCH``) and takes the Code Editor product's ``OnDemand``
price in USD per ``Hrs``; no such product is no price, never another component's.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..safe_write import write_atomically
from ..times import utc_iso
from .failures import UsageError

__all__ = ["CACHE_DAYS", "COMPONENT", "Prices", "cache_path", "from_file", "from_price_list"]

COMPONENT = "studio-codeeditor"
#: Cached prices older than this are read again.
CACHE_DAYS = 30
ACTION = "pricing:GetProducts"
#: The Price List API's endpoints are in these regions only; us-east-1 answers for all.
PRICING_REGION = "us-east-1"


@dataclass
class Prices:
    """USD per hour by instance type, where they came from, and why some are missing."""

    source: str  # "file PATH", "price list api", "cache", "none"
    as_of: str | None  # when read (ISO-8601 UTC); the oldest one used
    usd_per_hour: dict[str, float] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # type -> why
    calls: int = 0

    def get(self, instance_type: str | None) -> float | None:
        """The price of ``instance_type``, or None."""
        return None if instance_type is None else self.usd_per_hour.get(instance_type)


def from_file(path: Path, types: Iterable[str]) -> Prices:
    """``--prices FILE``: a JSON object of instance type to USD per hour (a bad file is a usage
    error that names it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--prices {path}: cannot read it: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"--prices {path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--prices {path}: must be a JSON object of instance type to USD/hour")
    prices = Prices(f"file {path}", utc_iso(path.stat().st_mtime))
    for key, value in data.items():
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(float(value)) or float(value) < 0:
            raise UsageError(f"--prices {path}: {key!r} must be a number of USD per hour >= 0")
        prices.usd_per_hour[str(key)] = float(value)
    for t in types:
        if t not in prices.usd_per_hour:
            prices.missing[t] = f"not in --prices {path}"
    return prices


def cache_path() -> Path:
    """``$XDG_CACHE_HOME/autostop-async/prices.json`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "autostop-async" / "prices.json"


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def from_price_list(
    pricing: Any, region: str, types: Iterable[str], now: float, cache: Path | None = None
) -> Prices:
    """Prices of ``types`` in ``region``: the cache where fresh, else ``GetProducts``; what is
    read is written back to the cache. An error is kept as the reason a price is missing."""
    cache = cache_path() if cache is None else cache
    stored = _read_cache(cache)
    regional = stored.get(region) if isinstance(stored.get(region), dict) else {}
    prices = Prices("none", None)
    read_at: list[float] = []
    fresh_reads = 0
    for t in sorted(set(types)):
        hit = regional.get(t) if isinstance(regional, dict) else None
        if _fresh(hit, now):
            assert isinstance(hit, dict)
            prices.usd_per_hour[t] = float(hit["usd_per_hour"])
            read_at.append(float(hit["read_at"]))
            continue
        try:
            usd = _get_products(pricing, prices, region, t)
        except _Failed as exc:
            prices.missing[t] = str(exc)
            continue
        if usd is None:
            prices.missing[t] = f"the Price List has no Code Editor price for {t} in {region}"
            continue
        prices.usd_per_hour[t] = usd
        read_at.append(now)
        fresh_reads += 1
        stored.setdefault(region, {})
        if isinstance(stored[region], dict):
            stored[region][t] = {"usd_per_hour": usd, "read_at": now, "read": utc_iso(now)}
    if read_at:
        prices.as_of = utc_iso(min(read_at))
        cached = fresh_reads < len(read_at)
        prices.source = "price list api (cached)" if cached else "price list api"
    if fresh_reads:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(cache, json.dumps(stored, indent=1, sort_keys=True))
        except OSError:
            pass  # a cache that cannot be written costs a call next time, nothing more
    return prices


def _fresh(hit: Any, now: float) -> bool:
    if not isinstance(hit, dict):
        return False
    usd, at = hit.get("usd_per_hour"), hit.get("read_at")
    if not isinstance(usd, (int, float)) or not isinstance(at, (int, float)):
        return False
    return math.isfinite(float(usd)) and 0 <= now - float(at) < CACHE_DAYS * 86400


class _Failed(Exception):
    pass


def _get_products(pricing: Any, prices: Prices, region: str, instance_type: str) -> float | None:
    """The Code Editor on-demand USD/hour of ``instance_type`` in ``region``, or None."""
    kwargs: dict[str, Any] = {
        "ServiceCode": "AmazonSageMaker",
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
        "Filters": [
            {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
            {"Type": "TERM_MATCH", "Field": "instanceName", "Value": instance_type},
        ],
    }
    found: float | None = None
    while True:
        try:
            page = pricing.get_products(**kwargs)
        except Exception as exc:
            error = (getattr(exc, "response", None) or {}).get("Error") or {}
            code = str(error.get("Code") or type(exc).__name__)
            if code in ("AccessDenied", "AccessDeniedException"):
                raise _Failed(f"access denied: {ACTION}") from None
            raise _Failed(f"{ACTION} failed: {code}") from None
        prices.calls += 1
        for text in page.get("PriceList") or []:
            usd = _code_editor_price(text, region, instance_type)
            if usd is not None:
                found = usd if found is None else min(found, usd)
        token = page.get("NextToken")
        if not token:
            return found
        kwargs["NextToken"] = token


def _code_editor_price(text: Any, region: str, instance_type: str) -> float | None:
    """The on-demand USD/hour of one Price List product, if it is Code Editor's for the type."""
    try:
        product = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if not isinstance(product, dict):
        return None
    attrs = (product.get("product") or {}).get("attributes") or {}
    if not isinstance(attrs, dict):
        return None
    component = {str(attrs.get(k, "")).lower() for k in ("platoinstancetype", "component")}
    if COMPONENT not in component:
        return None
    if attrs.get("regionCode") != region or attrs.get("instanceName") != instance_type:
        return None
    on_demand = (product.get("terms") or {}).get("OnDemand") or {}
    for term in on_demand.values() if isinstance(on_demand, dict) else []:
        for dim in (term.get("priceDimensions") or {}).values() if isinstance(term, dict) else []:
            if not isinstance(dim, dict) or dim.get("unit") not in ("Hrs", "Hours"):
                continue
            try:
                usd = float(str((dim.get("pricePerUnit") or {}).get("USD")))
            except (TypeError, ValueError):
                continue
            if math.isfinite(usd) and usd > 0:
                return usd
    return None
