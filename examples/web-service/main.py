r"""
A small web service that tags uploaded images, every call audited under a policy.

``POST /analyze`` with the image as the request body answers with its tags as JSON.
The facts the call runs under come from request headers, into one ``audit_context``
per request: ``X-Consent-Ref``, ``X-Purpose``, ``X-Subject-Ref`` and ``X-Actor``.

Explicit instrumentation (the service calls ``instrument()`` itself)::

    python main.py --policy ../policies/insurance-claims.toml

Zero-code (the OpenTelemetry agent instruments, configured from ``VISION_AUDIT_*``)::

    VISION_AUDIT_POLICY=../policies/insurance-claims.toml \\
        opentelemetry-instrument python main.py

It reads ``VISION_ENDPOINT`` and ``VISION_KEY`` (a ``vision-audit emulator`` will do).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn

from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.ai.vision.imageanalysis.models import VisualFeatures
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from vision_audit import (
    ConsentRequiredError,
    ReviewWithheldError,
    TagBlockedError,
    VisionAuditInstrumentor,
    audit_context,
    get_audit_id,
)

MAX_UPLOAD = 20 * 1024 * 1024  # the service's own limit: 20 MB
FEATURES = [VisualFeatures.TAGS]
# What the service says about the image itself: the caller's to fix. Anything else
# (a bad key, throttling, an outage) is ours, and the caller sees a bad gateway.
IMAGE_ERRORS = {
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
}


class AnalyzeHandler(BaseHTTPRequestHandler):
    """``POST /analyze``: image bytes in, tags out; ``GET /healthz``: liveness."""

    client: ImageAnalysisClient  # set on the subclass main() makes

    def do_GET(self) -> None:
        """Answer the liveness probe."""
        if self.path != "/healthz":
            self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        self._reply(HTTPStatus.OK, {"status": "ok"})

    def do_POST(self) -> None:
        """Analyze the uploaded image inside the request's audit context."""
        if self.path != "/analyze":
            self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_UPLOAD:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "send the image as body"})
            return
        image = self.rfile.read(length)
        try:
            with audit_context(
                consent_ref=self.headers.get("X-Consent-Ref"),
                purpose=self.headers.get("X-Purpose"),
                subject_ref=self.headers.get("X-Subject-Ref"),
                actor=self.headers.get("X-Actor", "web-service"),
            ):
                result = self.client.analyze(image_data=image, visual_features=FEATURES)
        except ConsentRequiredError as err:
            # Refused before any byte left the process; the denial is in the store.
            self._reply(HTTPStatus.FORBIDDEN, {"error": "denied", "reason": err.reason})
            return
        except ReviewWithheldError:
            self._reply(HTTPStatus.FORBIDDEN, {"error": "withheld by a reviewer"})
            return
        except TagBlockedError as err:
            # The purpose refuses images that show a block-listed thing.
            self._reply(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                {"error": "withheld", "tags": list(err.tags), "id": err.analysis_id},
            )
            return
        except HttpResponseError as err:
            status = err.status_code or HTTPStatus.BAD_GATEWAY
            callers_fault = status in IMAGE_ERRORS
            code = HTTPStatus.BAD_REQUEST if callers_fault else HTTPStatus.BAD_GATEWAY
            self._reply(code, {"error": err.error.code if err.error else str(status)})
            return
        tags = [
            {"name": tag.name, "confidence": round(tag.confidence, 4)}
            for tag in (result.tags.list if result.tags else [])
        ]
        self._reply(HTTPStatus.OK, {"audit_id": get_audit_id(result), "tags": tags})

    def _reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def instrument(policy: str | None, store: str | None) -> str:
    """
    Instrument the SDK, unless the OpenTelemetry agent already did.

    Returns:
        Which of the two configured the auditing, to say so at start-up.
    """
    instrumentor = VisionAuditInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        # opentelemetry-instrument got there first, from VISION_AUDIT_* variables.
        return "opentelemetry-instrument (VISION_AUDIT_* environment)"
    # Arguments left as None fall back to VISION_AUDIT_POLICY / VISION_AUDIT_STORE.
    instrumentor.instrument(policy=policy, store=store)
    return "explicit instrument()"


def _stop(*_: object) -> NoReturn:
    sys.exit(0)


def main() -> int:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0: any free port")
    parser.add_argument("--policy", help="default: $VISION_AUDIT_POLICY")
    parser.add_argument("--store", help="default: $VISION_AUDIT_STORE")
    args = parser.parse_args()

    mode = instrument(args.policy, args.store)
    client = ImageAnalysisClient(
        os.environ["VISION_ENDPOINT"], AzureKeyCredential(os.environ["VISION_KEY"])
    )
    handler = type("Handler", (AnalyzeHandler,), {"client": client})
    server = ThreadingHTTPServer((args.host, args.port), handler)
    signal.signal(signal.SIGTERM, _stop)
    host, port = server.server_address[:2]
    print(f"audited by {mode}", flush=True)
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        client.close()
        VisionAuditInstrumentor().uninstrument()  # closes the audit store it opened
    return 0


if __name__ == "__main__":
    sys.exit(main())
