"""The agent-facing ingest URL, ``/ingest/<token>/``: one per enrolment token.

It speaks both protocols on the same URL, told apart by the body:

- FusionInventory / OCS Inventory XML. A PROLOG (``<QUERY>PROLOG</QUERY>``) is answered with
  ``<REPLY><RESPONSE>SEND</RESPONSE><PROLOG_FREQ>24</PROLOG_FREQ></REPLY>`` so the agent sends
  its INVENTORY next; the OCS agent with ``--force`` sends the INVENTORY straight away.
  Bodies are zlib-compressed (``application/x-compress-zlib`` from FusionInventory,
  ``application/x-compress`` from OCS) or plain ``application/xml``; replies are compressed
  the same way as the request.
- GLPI-agent JSON (``application/json``, or zlib with ``application/x-compress-zlib``). A
  CONTACT request (``"action": "contact"``) is answered with the inventory task enabled;
  an inventory with ``{"status": "ok", "expiration": 24}``; errors with
  ``{"status": "error", "message": …}``.

A missing, unknown (401), expired or revoked (403) token, and any bad body (400, 413, 415),
write nothing. The view stays thin: parsing is ``parsers``, storing is ``services``.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from zhengban.inventory import document as d
from zhengban.inventory import parsers, services

PROLOG_FREQ_HOURS = 24
PROLOG_REPLY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<REPLY><RESPONSE>SEND</RESPONSE><PROLOG_FREQ>%d</PROLOG_FREQ></REPLY>" % PROLOG_FREQ_HOURS
)
# What the OCS server answers after storing an inventory.
INVENTORY_REPLY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<REPLY><RESPONSE>no_account_update</RESPONSE></REPLY>'
)


def _reply_body(data: bytes, *, request_type: str, json_body: bool) -> tuple[bytes, str]:
    """Compress the reply exactly when the request was compressed, as the agents expect:
    (body, Content-Type)."""
    if parsers.is_compressed(request_type):
        media = parsers.media_type(request_type)
        if media in parsers.GZIP_CONTENT_TYPES:
            # Labelled gzip, so gzip: the agent inflates by the label.
            return gzip.compress(data, mtime=0), media
        return zlib.compress(data), media
    return data, "application/json" if json_body else "application/xml; charset=utf-8"


def _reply(data: bytes, *, request_type: str, json_body: bool, status: int = 200) -> HttpResponse:
    body, content_type = _reply_body(data, request_type=request_type, json_body=json_body)
    return HttpResponse(body, status=status, content_type=content_type)


OK_JSON = json.dumps({"status": "ok", "expiration": PROLOG_FREQ_HOURS}).encode("utf-8")


@dataclass
class Carried:
    """What ``unchanged_repeat`` learnt of a body that was no repeat, for the view to go on
    from: the body's digest; the body inflated, or why it could not be; and the body read
    without its software entries (``parsers.parse_xml_quick``: None if it declined the
    body), when it got that far."""

    digest: str
    payload: bytes | None = None
    error: parsers.InventoryError | None = None
    # XML: parse_xml_quick's result. JSON: the parsed body (``json_doc``) and parse_json_quick's.
    quick: tuple[parsers.XmlRequest, str] | None | object = parsers.UNREAD
    json_doc: dict | None = None
    json_quick: tuple[d.InventoryDocument, str] | None = None


def unchanged_repeat(
    token: str, body: bytes, request_type: str, user_agent: str = ""
) -> tuple[Carried, tuple[bytes, str] | None]:
    """An unchanged repeat, before anything else: (what was learnt of the body, and the
    reply as (body, Content-Type) if the token is live and a device of its unit was found
    unchanged, which then only moved its last_seen; else None, with nothing written). Both
    the view and the lean WSGI entry for agents (``zhengban.wsgi``) answer with this.

    Two kinds are found here. A byte-identical body costs one statement, before inflating
    it; that statement also says whether the token is live, and nothing more is done with
    the body of a dead one. An inventory of an agent whose machine did not change, though
    volatile fields of the body did (uptime, free disk space, boot time: every OCS,
    FusionInventory or GLPI agent's daily inventory), costs inflating the body, reading it
    without its software entries (the software's digest stands for them), and one more
    statement (``services.touch_unchanged_agent_for_token``)."""
    carried = Carried(services.payload_hash(body, request_type))
    touched = services.touch_unchanged_for_token(token=token, digest=carried.digest)
    if touched:
        return carried, _ok_reply(parsers.sniff_body(body, request_type), request_type)
    if touched is None:
        return carried, None  # a dead token: the view refuses it (401/403)
    try:
        kind = parsers.sniff_body(body, request_type)
    except parsers.InventoryError:
        return carried, None  # the view reads the body whole, and answers what it finds
    try:
        carried.payload = parsers.decode_body(body, request_type)
        if kind == "json":
            carried.json_doc = parsers.parse_json(carried.payload)
    except parsers.InventoryError as exc:
        carried.error = exc  # the view answers it, after checking the token
        return carried, None
    if kind == "json":
        assert carried.json_doc is not None
        if str(carried.json_doc.get("action", "")).lower() == "contact":
            return carried, None
        carried.json_quick = parsers.parse_json_quick(carried.json_doc)
        if carried.json_quick is None:
            return carried, None
        document, software_digest = carried.json_quick
    else:
        carried.quick = quick = parsers.parse_xml_quick(carried.payload, user_agent=user_agent)
        if quick is None or quick[0].document is None:
            return carried, None
        document, software_digest = quick[0].document, quick[1]
    if services.touch_unchanged_agent_for_token(
        token=token, document=document, software_digest=software_digest, digest=carried.digest
    ):
        return carried, _ok_reply(kind, request_type)
    return carried, None


def _ok_reply(kind: str, request_type: str) -> tuple[bytes, str]:
    if kind == "json":
        return _reply_body(OK_JSON, request_type=request_type, json_body=True)
    return _reply_body(INVENTORY_REPLY, request_type=request_type, json_body=False)


# Set by the lean WSGI entry when it already tried the unchanged repeat of this body (and
# found none): its Carried, so the view neither runs the same statements nor reads the body
# again.
CARRIED_KEY = "zhengban.ingest.carried"


def _json(payload: dict, *, request_type: str, status: int = 200) -> HttpResponse:
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return _reply(data, request_type=request_type, json_body=True, status=status)


def _error(status: int, message: str, *, as_json: bool, request_type: str) -> HttpResponse:
    # Errors are never compressed: a person reading an agent's log must see the reason.
    if as_json:
        body = json.dumps({"status": "error", "message": message}, ensure_ascii=False)
        return HttpResponse(body, status=status, content_type="application/json")
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _wants_json(request: HttpRequest) -> bool:
    return parsers.media_type(request.content_type) == "application/json" or "json" in (
        request.headers.get("Accept", "")
    )


@csrf_exempt
@require_POST
def ingest(request: HttpRequest, token: str = "") -> HttpResponse:
    request_type = request.headers.get("Content-Type", "")
    as_json = _wants_json(request)
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    too_large = declared > parsers.limit("INVENTORY_MAX_BODY_BYTES")
    # A chunked body without a length reaches Django as an empty one: say why.
    unsized = not declared and "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    user_agent = request.headers.get("User-Agent", "")
    carried = Carried("")
    if not too_large and not unsized:
        carried = request.META.get(CARRIED_KEY)
        if carried is None:
            # An unchanged repeat (an agent whose machine did not change) costs one or two
            # statements: no token lookup of its own, no parsing of the software.
            carried, reply = unchanged_repeat(token, request.body, request_type, user_agent)
            if reply is not None:
                return HttpResponse(reply[0], content_type=reply[1])
    try:
        enrollment = services.resolve_token(token, with_unit=True)
    except services.TokenRejected as exc:
        return _error(exc.status, exc.message, as_json=as_json, request_type=request_type)
    if too_large:
        return _error(413, _("请求体过大。"), as_json=as_json, request_type=request_type)
    if unsized:
        return _error(
            411,
            "Content-Length: " + _("请求须注明长度（不支持分块传输）。"),
            as_json=as_json,
            request_type=request_type,
        )
    try:
        if carried.error is not None:
            raise carried.error
        payload = carried.payload
        if payload is None:
            payload = parsers.decode_body(request.body, request_type)
        kind = parsers.sniff(payload)
        if kind == "json":
            doc = carried.json_doc if carried.json_doc is not None else parsers.parse_json(payload)
            as_json = True
            if str(doc.get("action", "")).lower() == "contact":
                services.touch_token(enrollment)
                return _json(
                    {
                        "status": "ok",
                        "expiration": PROLOG_FREQ_HOURS,
                        "tasks": {"inventory": {"server": "glpi", "version": "10.0.0"}},
                    },
                    request_type=request_type,
                )
            document = parsers.document_from_json(
                doc,
                software_digest=carried.json_quick[1] if carried.json_quick else None,
                head_checked=carried.json_quick is not None,
            )
            services.ingest_inventory(
                unit=enrollment.unit, document=document, digest=carried.digest
            )
            services.touch_token(enrollment)
            return _json(
                {"status": "ok", "expiration": PROLOG_FREQ_HOURS}, request_type=request_type
            )
        as_json = False
        parsed = services.ingest_xml(
            unit=enrollment.unit,
            payload=payload,
            user_agent=user_agent,
            digest=carried.digest,
            quick=carried.quick,
        )
        services.touch_token(enrollment)
        if parsed.query == "PROLOG":
            return _reply(PROLOG_REPLY, request_type=request_type, json_body=False)
        return _reply(INVENTORY_REPLY, request_type=request_type, json_body=False)
    except parsers.InventoryError as exc:
        return _error(
            exc.status, f"{exc.field}: {exc.message}", as_json=as_json, request_type=request_type
        )
