"""How the CLI reaches the data: through a running collector, or by opening the store itself.

Only one process can open an embedded (chDB) path. When a collector holds it, it announces its
admin address in a state file beside the path, and the CLI goes through that read-only
endpoint; when none runs, the CLI opens the path directly. A server URL is always opened
directly.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from ..settings import Settings, StoreURL, state_path
from ..store import Store
from .operations import OPERATIONS


class AccessError(RuntimeError):
    pass


class _Access:
    """The operations of admin/operations.py as methods, over `_call(method, route, document)`:
    Direct runs the operation's function here, Remote sends it to a collector's admin endpoint."""

    def _call(self, method: str, route: str, document: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def sql(self, sql: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._call("POST", "/admin/sql", {"sql": sql, "parameters": parameters or {}})

    def refresh(self, wait: bool = True, views: list[str] | None = None) -> list[str]:
        return self._call("POST", "/admin/refresh", {"wait": wait, "views": views})["refreshed"]

    def replay(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/admin/refresh", request)["replayed"]

    def alerts(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/admin/alerts", request)

    def views(self) -> list[dict[str, Any]]:
        return self._call("GET", "/admin/views")["views"]

    def config(self, model: str, values: dict[str, str] | None = None) -> list[dict[str, Any]]:
        if values:
            return self._call("POST", "/admin/config", {"model": model, "values": values})["settings"]
        return self._call("GET", "/admin/config", {"model": model})["settings"]

    def purge(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/admin/purge", request)

    def close(self) -> None:
        pass


class Direct(_Access):
    """This process holds the store: the operations run here (no spool to wait for, no /metrics
    to reload)."""

    def __init__(self, url: StoreURL, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(url, settings.admin_limits())

    def _call(self, method: str, route: str, document: dict[str, Any] | None = None) -> Any:
        operation = OPERATIONS[(method, route)]
        try:
            return operation.run(self, document or {})
        except Exception as exc:  # what the endpoint would answer with a status, as Remote raises it
            if operation.status(exc) is None:
                raise
            raise AccessError(str(exc)) from None

    def flush(self, timeout: float) -> bool:
        return True

    def refreshed(self) -> None:
        pass

    def close(self) -> None:
        self.store.close()


class Remote(_Access):
    """A running collector holds the store; talk to its admin endpoint."""

    def __init__(self, admin_url: str, token: str = "", tls_cert: str = "") -> None:
        self.admin_url = admin_url.rstrip("/")
        self.token = token
        self.tls_cert = tls_cert

    def _call(self, method: str, route: str, document: dict[str, Any] | None = None, timeout: float = 600) -> Any:
        if method == "GET":  # a GET's document travels as its query string
            route += "?" + urlencode(document) if document else ""
            data = None
        else:
            data = json.dumps(document).encode() if document is not None else None
        request = urllib.request.Request(self.admin_url + route, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        context = tls_context(self.admin_url, self.tls_cert)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", str(exc))
            except ValueError:
                message = str(exc)
            raise AccessError(message) from None
        except urllib.error.URLError as exc:
            raise AccessError(f"cannot reach the collector at {self.admin_url}: {exc.reason}") from None


def tls_context(url: str, cert: str) -> ssl.SSLContext | None:
    """For an https admin URL: trust `cert` (HERON_TLS_CERT: a self-signed collector's own
    certificate) besides the system's authorities."""
    if not url.startswith("https://"):
        return None
    context = ssl.create_default_context()
    if cert and os.path.isfile(cert):
        context.load_verify_locations(cafile=cert)
    return context


def running_collector(url: StoreURL, tls_cert: str = "") -> str | None:
    """The admin URL of a live collector holding this embedded store, if any."""
    try:
        with open(state_path(url)) as f:
            state = json.load(f)
        context = tls_context(state["admin"], tls_cert)
        with urllib.request.urlopen(state["admin"] + "/livez", timeout=2, context=context) as reply:
            if reply.status == 200:
                return state["admin"]
    except (OSError, ValueError, KeyError):
        return None
    return None


def open_access(url: StoreURL, settings: Settings | None = None) -> Direct | Remote:
    """The way to the data at `url`: a running collector's admin endpoint, else the store itself.
    `settings` gives the token, the certificate and the admin address (default: the environment's)."""
    settings = settings or Settings()
    if url.embedded:
        admin = running_collector(url, settings.tls_cert)
        if admin:
            return Remote(admin, settings.token, settings.tls_cert)
        if not os.path.isdir(url.path):
            elsewhere = _live_admin(f"http://{settings.admin}")
            raise AccessError(f"no store at {url.path}: " + (
                f"a collector answers on {elsewhere}; pass the --data-dir it was started with" if elsewhere
                else "start `heron collector` (or pass --data-dir)"))
    return Direct(url, settings)


def _live_admin(admin: str) -> str | None:
    """`admin` when a collector's admin endpoint answers there."""
    try:
        with urllib.request.urlopen(admin + "/livez", timeout=2) as reply:
            return admin if reply.status == 200 else None
    except (OSError, ValueError):
        return None
