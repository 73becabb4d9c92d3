"""
A local stand-in for the Azure AI Vision Image Analysis REST API (2023-10-01).

The emulator lets the real ``azure-ai-vision-imageanalysis`` SDK run end to end
without Azure: it serves ``POST /computervision/imageanalysis:analyze`` on loopback,
validates each request as the service does, decodes the image for real, and answers
with spec-valid results derived deterministically from the image bytes and options,
or with the service's documented errors.

Usage::

    from azure.ai.vision.imageanalysis import ImageAnalysisClient
    from azure.core.credentials import AzureKeyCredential
    from vision_audit.emulator import Emulator

    with Emulator(key="local-key") as emulator:
        client = ImageAnalysisClient(emulator.endpoint, AzureKeyCredential("local-key"))
        result = client.analyze(image_data=image_bytes, visual_features=["TAGS"])

Scripting a result: put ``photo.json`` next to ``photo.jpg`` in the images folder,
register one with :meth:`Emulator.script`, or embed it in the image itself (a PNG
text chunk or JPEG comment ``vision-audit-emulator``, see ``embed_script``). The
script decides the caption, tags, objects, people, read text, dense captions, an
error to answer with, and a latency.

URL mode never reaches the internet: loopback URLs are fetched, and any other URL
names a file under the images folder (by path, then by file name), so
``https://contoso.blob.core.windows.net/claims/car.jpg?sv=...&sig=...`` analyzes
``car.jpg`` of the images folder.

Nothing in vision-audit's product code depends on this package.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Self

from vision_audit._text import counted
from vision_audit.emulator._errors import ServiceError
from vision_audit.emulator._images import allow_large_images
from vision_audit.emulator._scripts import (
    Script,
    ScriptError,
    embed_script,
    parse_script,
)
from vision_audit.emulator._server import (
    ANALYZE_PATH,
    CAPTION_REGIONS,
    EmulatorHTTPServer,
    EmulatorHTTPServerIPv6,
    ScriptBook,
    ServerSettings,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

__all__ = [
    "ANALYZE_PATH",
    "CAPTION_REGIONS",
    "Emulator",
    "Script",
    "ScriptError",
    "ServiceError",
    "embed_script",
    "parse_script",
]

logger = logging.getLogger("vision_audit.emulator")


class Emulator:
    """
    An emulator server, run in a background thread or in the foreground.

    Args:
        host: Address to bind; loopback unless you mean to expose it.
        port: Port to bind; 0 picks a free one (see :attr:`endpoint`).
        key: The only ``Ocp-Apim-Subscription-Key`` accepted; any non-empty key
            when None. Bearer tokens are accepted without validation.
        images: Folder of images and their JSON sidecars, for URL mode and scripts.
        region: The Azure region to behave as (``x-ms-region``); caption features
            are refused outside the regions that offer them, as in Azure.

    Raises:
        ScriptError: A sidecar in *images* is invalid (raised by :meth:`start`).

    .. versionadded:: 0.1.0

    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        key: str | None = None,
        images: str | Path | None = None,
        region: str = "West US",
    ) -> None:
        """Configure; nothing is bound until :meth:`start` or :meth:`serve_forever`."""
        self._host = host
        self._port = port
        images_dir = Path(images) if images is not None else None
        if images_dir is not None and not images_dir.is_dir():
            msg = f"images folder {str(images_dir)!r} does not exist or is not a folder"
            raise ValueError(msg)
        self._book = ScriptBook(images_dir)
        self._settings = ServerSettings(key=key, region=region, book=self._book)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """The endpoint to give ``ImageAnalysisClient``, e.g. ``http://127.0.0.1:5123``."""
        if self._server is None:
            msg = "the emulator is not started"
            raise RuntimeError(msg)
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    @property
    def requests_received(self) -> int:
        """How many POST requests reached this emulator, valid or not."""
        return self._book.analyze_requests

    def script(self, image: bytes, script: Mapping[str, object] | Script) -> None:
        """
        Decide what the emulator answers for *image*, by its SHA-256.

        Args:
            image: The exact bytes the client will send.
            script: A script object, or its JSON form (see the module docstring).

        Raises:
            ScriptError: *script* is not valid.

        """
        parsed = (
            script
            if isinstance(script, Script)
            else parse_script(script, source="script")
        )
        self._book.add(hashlib.sha256(image).hexdigest(), parsed)

    def _bind(self) -> EmulatorHTTPServer:
        allow_large_images()
        scripted = self._book.index_images_dir()
        if scripted:
            logger.info(
                "loaded %s from %s",
                counted(scripted, "scripted image"),
                self._book.images_dir,
            )
        server_class = (
            EmulatorHTTPServerIPv6 if ":" in self._host else EmulatorHTTPServer
        )
        self._server = server_class((self._host, self._port), self._settings)
        return self._server

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns self for chaining."""
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="vision-audit-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Bind and serve in this thread until interrupted."""
        server = self._bind()
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        """Start in the background."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop."""
        self.stop()
