"""Request bodies → OTLP protobuf messages, with the limits that keep memory bounded.

OTLP/HTTP bodies are protobuf or the spec's JSON encoding (ids as hex, int64 as strings or
numbers, enums as integers, unknown fields ignored), optionally gzip-compressed. Decompression
stops as soon as the output passes the size limit, so a gzip bomb costs at most the limit.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from .errors import BadRequest, TooLarge

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo Content-Encoding (none or gzip), never producing more than `limit` bytes."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity", "none"):
        if len(body) > limit:
            raise TooLarge(f"body is {len(body)} bytes; the limit is {limit} (HERON_MAX_BODY_BYTES)")
        return body
    if encoding not in ("gzip", "deflate"):
        raise BadRequest(f"Content-Encoding {encoding!r} is not supported; use gzip or none")
    inflater = zlib.decompressobj(wbits=(16 + zlib.MAX_WBITS) if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid {encoding}: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge(f"body decompresses to more than {limit} bytes (HERON_MAX_BODY_BYTES)")
    if not inflater.eof:
        raise BadRequest(f"body is truncated {encoding} data")
    return out


def media_type(content_type: str) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def parse(signal: Any, body: bytes, content_type: str) -> Any:
    """Decode a signal's Export*ServiceRequest (signals.Signal.request) from protobuf or OTLP/JSON."""
    request_type = signal.request
    kind = media_type(content_type)
    if kind == PROTOBUF:
        message = request_type()
        try:
            message.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise BadRequest(f"body is not a valid {request_type.__name__} protobuf: {exc}") from exc
        return message
    if kind == JSON:
        try:
            document = orjson.loads(body)  # strict, and refuses nesting past 1,024 levels
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"body is not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise BadRequest(f"body must be a JSON object ({request_type.__name__}), not {type(document).__name__}")
        message = request_type()
        try:
            _hex_ids_to_base64(document)
            json_format.ParseDict(document, message, ignore_unknown_fields=True)
        except BadRequest:
            raise
        except RecursionError as exc:
            raise BadRequest(f"body is nested too deeply for an OTLP/JSON {request_type.__name__}") from exc
        except Exception as exc:  # ParseError, and whatever else a hostile document provokes
            raise BadRequest(f"body is not a valid OTLP/JSON {request_type.__name__}: {exc}") from exc
        return message
    raise BadRequest(f"Content-Type {content_type!r} is not supported; use {PROTOBUF} or {JSON}")


_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _hex_ids_to_base64(node: Any, path: str = "") -> None:
    """OTLP/JSON carries trace/span ids as hex; protobuf's JSON parser expects base64 bytes."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode() if value else ""
                except ValueError as exc:
                    raise BadRequest(f"{path}{key} = {value!r} is not a hex id (OTLP/JSON ids are hex)") from exc
            elif isinstance(value, (dict, list)):
                _hex_ids_to_base64(value, f"{path}{key}.")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _hex_ids_to_base64(item, f"{path[:-1]}[{i}].")


def partial_success(reply: Any, signal: Any, rejected: int, message: str) -> Any:
    """Fill an Export*ServiceResponse's partial_success when something was rejected or worth saying."""
    if rejected or message:
        setattr(reply.partial_success, signal.rejected_field, rejected)
        reply.partial_success.error_message = message
    return reply


def response(signal: Any, rejected: int = 0, message: str = "", content_type: str = PROTOBUF) -> bytes:
    """The encoded Export*ServiceResponse of a signal (signals.Signal), in the request's encoding."""
    reply = partial_success(signal.response(), signal, rejected, message)
    if media_type(content_type) == JSON:
        return json_format.MessageToJson(reply, indent=None).encode()
    return reply.SerializeToString()
