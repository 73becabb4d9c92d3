"""Image bytes, keys, tokens and URL query strings never reach any output."""

from __future__ import annotations

import json
import logging

import pytest
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.ai.vision.imageanalysis.models import VisualFeatures
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from vision_audit import audit_context
from vision_audit.emulator import Emulator
from vision_audit.sinks.log import JSONFormatter
from vision_audit.testing import make_test_image

KEY = "KEY-5f1c9e0b7a2d4c68-do-not-log"
SIGNATURE = "sig=SAS-SIGNATURE-4c2b8e1f"
SAS_QUERY = f"sv=2022-11-02&se=2030-01-01&sp=r&{SIGNATURE}"
PASSWORD = "url-password-93ad"


def _everything(span_exporter, log_exporter, caplog, store) -> str:
    """Every output of the workload, as one searchable text."""
    parts = [span.to_json() for span in span_exporter.get_finished_spans()]
    parts.extend(
        f"{log.log_record.body!r} {dict(log.log_record.attributes or {})!r}"
        for log in log_exporter.get_finished_logs()
    )
    parts.extend(JSONFormatter().format(record) for record in caplog.records)
    parts.extend(repr(record) for record in store.records)
    return "\n".join(parts)


class TestNothingSecretRecorded:
    """A workload with a known key, a SAS query, user-info and known image bytes."""

    @pytest.mark.parametrize("capture_content", [False, True])
    def test_search_every_output(
        self,
        instrument,
        store,
        span_exporter,
        log_exporter,
        caplog,
        tmp_path,
        capture_content,
    ) -> None:
        """None of the secrets appears in spans, OTel logs, structlog or the store."""
        instrument(capture_content=capture_content)
        image = make_test_image(width=300, height=200, image_format="PNG", seed=99)
        (tmp_path / "claim.png").write_bytes(image)
        with (
            Emulator(key=KEY, images=tmp_path) as emulator,
            ImageAnalysisClient(
                emulator.endpoint, AzureKeyCredential(KEY), retry_total=0
            ) as client,
            audit_context(purpose="claims", subject_ref="claimant-77"),
            caplog.at_level(logging.DEBUG),
        ):
            client.analyze(image_data=image, visual_features=[VisualFeatures.TAGS])
            client.analyze_from_url(
                image_url=f"https://user:{PASSWORD}@acct.blob.core.windows.net/c/claim.png?{SAS_QUERY}",
                visual_features=[VisualFeatures.TAGS, VisualFeatures.CAPTION],
            )
            with pytest.raises(HttpResponseError):
                client.analyze_from_url(
                    image_url=f"https://acct.blob.core.windows.net/c/missing.png?{SAS_QUERY}",
                    visual_features=[VisualFeatures.TAGS],
                )

        text = _everything(span_exporter, log_exporter, caplog, store)
        assert text, "the workload produced no output to search"
        for secret in (KEY, SIGNATURE, "SAS-SIGNATURE", PASSWORD, "se=2030"):
            assert secret not in text
        # A run of the image's own bytes, in any common encoding, is absent too.
        sample = image[len(image) // 2 : len(image) // 2 + 24]
        assert sample.hex() not in text
        assert repr(sample)[2:-1] not in text
        import base64

        assert base64.b64encode(image[100:160]).decode()[4:40] not in text
        assert "claimant-77" not in json.dumps(
            [r.event.subject_ref for r in store.records]
        )


class TestNothingSecretInTheStoreFile:
    """The same workload into a real SQLite store: its bytes on disk are clean."""

    def test_sqlite_file(self, tracer_provider, tmp_path) -> None:
        """Key, SAS signature, password and image bytes are absent from the files."""
        from vision_audit import VisionAuditInstrumentor
        from vision_audit.store import open_store

        image = make_test_image(width=300, height=200, image_format="PNG", seed=98)
        folder = tmp_path / "images"
        folder.mkdir()
        (folder / "claim.png").write_bytes(image)
        store = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
        instrumentor = VisionAuditInstrumentor()
        instrumentor.instrument(store=store, tracer_provider=tracer_provider)
        try:
            with (
                Emulator(key=KEY, images=folder) as emulator,
                ImageAnalysisClient(
                    emulator.endpoint, AzureKeyCredential(KEY), retry_total=0
                ) as client,
                audit_context(purpose="claims", subject_ref="claimant-77"),
            ):
                client.analyze(image_data=image, visual_features=[VisualFeatures.TAGS])
                client.analyze_from_url(
                    image_url=f"https://u:{PASSWORD}@acct.blob.core.windows.net/c/claim.png?{SAS_QUERY}",
                    visual_features=[VisualFeatures.TAGS],
                )
        finally:
            instrumentor.uninstrument()
            store.close()

        on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("audit.db*"))
        assert on_disk
        for secret in (KEY, SIGNATURE, PASSWORD, "se=2030"):
            assert secret.encode() not in on_disk
        assert image[len(image) // 2 : len(image) // 2 + 24] not in on_disk


class TestContentWhereTheDocsSay:
    """The caption and read text: nowhere without capture, never in a log body."""

    @pytest.mark.parametrize("capture_content", [False, True])
    def test_caption_and_text(
        self, instrument, store, span_exporter, log_exporter, caplog, capture_content
    ) -> None:
        """Off: in no output. On: span and record attributes only, no message."""
        caption, line = "a man holding a blue umbrella", "POLICY 99-4411"
        instrument(capture_content=capture_content)
        image = make_test_image(seed=123)
        with (
            Emulator(key=KEY) as emulator,
            ImageAnalysisClient(
                emulator.endpoint, AzureKeyCredential(KEY), retry_total=0
            ) as client,
            caplog.at_level(logging.DEBUG),
        ):
            emulator.script(image, {"caption": caption, "text": [line]})
            client.analyze(
                image_data=image,
                visual_features=[VisualFeatures.CAPTION, VisualFeatures.READ],
            )

        messages = [record.getMessage() for record in caplog.records]
        bodies = [str(log.log_record.body) for log in log_exporter.get_finished_logs()]
        everything = _everything(span_exporter, log_exporter, caplog, store)
        assert not any(caption in text or line in text for text in messages + bodies)
        assert (caption in everything) is capture_content
        assert (line in everything) is capture_content
        on_spans = {
            key
            for span in span_exporter.get_finished_spans()
            for key, value in (span.attributes or {}).items()
            if caption in str(value) or line in str(value)
        }
        documented = {
            "vision_audit.content.caption",
            "vision_audit.content.read_text",
            "output.value",
        }
        assert on_spans == (documented if capture_content else set())
