"""
The product's main job on embedded defaults, as ``vision-audit demo`` runs it.

The demo draws a set of realistic pictures (shelves, insurance claim photos, patient
intake documents, a few broken uploads), starts the Image Analysis emulator in this
process, and sends a workload of several purposes through the real
``azure-ai-vision-imageanalysis`` SDK, sync and aio, bytes and URL, including calls
that fail as they would in Azure. It writes what it did to an output folder and says
where everything went.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.ai.vision.imageanalysis.aio import (
    ImageAnalysisClient as AsyncImageAnalysisClient,
)
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from vision_audit.context import audit_context
from vision_audit.demo._otlp_json import OTLPJSONFileExporter
from vision_audit.demo._scenes import write_scenes
from vision_audit.demo._workload import CONSENTS, WORKLOAD, DemoCall
from vision_audit.emulator import Emulator
from vision_audit.exceptions import ConsentRequiredError
from vision_audit.instrumentation import VisionAuditInstrumentor, get_audit_id
from vision_audit.models import utc_now
from vision_audit.policy import (
    ConsentRecord,
    grant_consent,
    load_policy,
    revoke_consent,
)
from vision_audit.review import list_pending_reviews, record_review_decision
from vision_audit.sinks.log import AUDIT_LOGGER_NAME, JSONFormatter
from vision_audit.store import open_store
from vision_audit.store._bundle import dump_bundle, make_bundle
from vision_audit.store._keys import (
    generate_signing_key,
    private_key_pem,
    public_key_pem,
    write_new_file,
)
from vision_audit.store._note import NoteVerifier
from vision_audit.witness import Witness, cosign_latest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager

    from azure.ai.vision.imageanalysis.models import ImageAnalysisResult
    from opentelemetry.trace import Span, Tracer

    from vision_audit.report.signing import ReportSigner
    from vision_audit.typing import AuditStore, ManagedAuditStore

__all__ = ["WORKLOAD", "CallRecord", "DemoCall", "DemoRun", "run_demo"]

# Enough to show one retry of a failing call without making the demo wait.
_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 1, "retry_backoff_factor": 0.05}
_PEOPLE_THRESHOLD = 0.5
DEMO_ORIGIN = "demo.vision-audit.example/audit-log"
"""The demo log's name: the first line of its checkpoints."""
DEMO_WITNESS = "compliance.demo.vision-audit.example/witness"
"""The demo's witness: the compliance office, which holds its own key and state."""
REPORT_CERT = "report-signing.crt"
"""The certificate the demo's report is signed under, in its output folder."""


@dataclass(frozen=True, slots=True)
class CallRecord:
    """What one call did: facts only, never image bytes, captions or read text."""

    name: str
    purpose: str
    actor: str
    mode: str
    features: tuple[str, ...]
    outcome: str
    status: int
    duration_ms: float
    error_code: str | None = None
    model_version: str | None = None
    tags: tuple[tuple[str, float], ...] = ()
    objects: int = 0
    people: int = 0
    text_lines: int = 0
    caption: bool = False
    audit_id: str | None = None

    def as_json(self) -> dict[str, object]:
        """The record as one JSON object of the call log."""
        return {
            "name": self.name,
            "purpose": self.purpose,
            "actor": self.actor,
            "mode": self.mode,
            "features": list(self.features),
            "outcome": self.outcome,
            "status": self.status,
            "error_code": self.error_code,
            "duration_ms": round(self.duration_ms, 2),
            "model_version": self.model_version,
            "tags": [{"name": n, "confidence": c} for n, c in self.tags],
            "objects": self.objects,
            "people": self.people,
            "text_lines": self.text_lines,
            "caption": self.caption,
            "audit_id": self.audit_id,
        }


@dataclass
class DemoRun:
    """The demo's results and the files it wrote, by what they are."""

    endpoint: str
    records: list[CallRecord] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    event_counts: Counter[str] = field(default_factory=Counter)
    reviews_decided: int = 0
    reviews_pending: int = 0
    witnessed: list[int] = field(default_factory=list)
    proven: str | None = None


def _call_fields(call: DemoCall) -> dict[str, Any]:
    """The fields every record of *call* has, whatever its outcome."""
    return {
        "name": call.name,
        "purpose": call.purpose,
        "actor": call.actor,
        "mode": "url" if call.by_url else "bytes",
        "features": tuple(f.value for f in call.features),
    }


def _record(call: DemoCall, result: ImageAnalysisResult, elapsed: float) -> CallRecord:
    tags = tuple(
        (t.name, round(t.confidence, 4))
        for t in (result.tags.list if result.tags else [])
    )
    people = sum(
        1
        for p in (result.people.list if result.people else [])
        if p.confidence >= _PEOPLE_THRESHOLD
    )
    lines = sum(len(b.lines) for b in result.read.blocks) if result.read else 0
    return CallRecord(
        **_call_fields(call),
        outcome="ok",
        status=200,
        duration_ms=elapsed * 1000,
        model_version=result.model_version,
        tags=tags,
        objects=len(result.objects.list) if result.objects else 0,
        people=people,
        text_lines=lines,
        caption=result.caption is not None,
        audit_id=get_audit_id(result),
    )


def _failure(call: DemoCall, error: HttpResponseError, elapsed: float) -> CallRecord:
    return CallRecord(
        **_call_fields(call),
        outcome="error",
        status=error.status_code or 0,
        duration_ms=elapsed * 1000,
        error_code=_error_code(error),
    )


def _denial(call: DemoCall, error: ConsentRequiredError, elapsed: float) -> CallRecord:
    return CallRecord(
        **_call_fields(call),
        outcome="denied",
        status=0,
        duration_ms=elapsed * 1000,
        error_code=error.reason,
    )


def _error_code(error: HttpResponseError) -> str | None:
    """The most specific code: the inner one where the service gives it."""
    if error.error is None:
        return None
    inner = error.error.innererror
    if isinstance(inner, dict) and isinstance(inner.get("code"), str):
        return f"{error.error.code}/{inner['code']}"
    return error.error.code


def _url(call: DemoCall) -> str:
    # Claims photos live in blob storage behind SAS URLs; the emulator maps the
    # path to a file of its images folder and never goes to the network.
    return f"https://claimsphotos.blob.core.windows.net/claims/{call.image}?{call.url_query}"


def _context(call: DemoCall) -> audit_context:
    return audit_context(
        purpose=call.purpose,
        actor=call.actor,
        subject_ref=call.subject_ref,
        consent_ref=call.consent_ref,
        workload="demo",
    )


def _handling(tracer: Tracer, call: DemoCall) -> AbstractContextManager[Span]:
    """The application's own span around one call, as a service's request span is."""
    return tracer.start_as_current_span(
        f"demo {call.name}", attributes={"demo.call": call.name}
    )


def _run_sync(
    client: ImageAnalysisClient, call: DemoCall, images: Path, tracer: Tracer
) -> CallRecord:
    with _handling(tracer, call), _context(call):
        return _run_sync_in_context(client, call, images)


def _run_sync_in_context(
    client: ImageAnalysisClient, call: DemoCall, images: Path
) -> CallRecord:
    started = time.perf_counter()
    try:
        if call.by_url:
            result = client.analyze_from_url(
                image_url=_url(call),
                visual_features=list(call.features),
                **call.options,
            )
        else:
            result = client.analyze(
                image_data=(images / call.image).read_bytes(),
                visual_features=list(call.features),
                **call.options,
            )
    except HttpResponseError as error:
        return _failure(call, error, time.perf_counter() - started)
    except ConsentRequiredError as error:
        return _denial(call, error, time.perf_counter() - started)
    return _record(call, result, time.perf_counter() - started)


async def _run_async(
    client: AsyncImageAnalysisClient, call: DemoCall, images: Path, tracer: Tracer
) -> CallRecord:
    started = time.perf_counter()
    try:
        with _handling(tracer, call):
            async with _context(call):
                result = await client.analyze(
                    image_data=(images / call.image).read_bytes(),
                    visual_features=list(call.features),
                    **call.options,
                )
    except HttpResponseError as error:
        return _failure(call, error, time.perf_counter() - started)
    except ConsentRequiredError as error:
        return _denial(call, error, time.perf_counter() - started)
    return _record(call, result, time.perf_counter() - started)


async def _run_async_calls(
    endpoint: str, key: str, calls: list[DemoCall], images: Path, tracer: Tracer
) -> list[CallRecord]:
    async with AsyncImageAnalysisClient(
        endpoint, AzureKeyCredential(key), **_CLIENT_OPTIONS
    ) as client:
        return list(
            await asyncio.gather(
                *(_run_async(client, c, images, tracer) for c in calls)
            )
        )


def run_demo(output: Path, *, out: IO[str] | None = None) -> DemoRun:
    """
    Run the demo workload against an in-process emulator, writing into *output*.

    Args:
        output: Folder for the demo's inputs and outputs; created when missing.
        out: Where to print the narrative; standard output by default.

    Returns:
        The call records and the output files.
    """
    stream = out if out is not None else sys.stdout
    images = output / "images"
    written = write_scenes(images)
    run = DemoRun(endpoint="")
    witness = _make_witness(output)
    with _audited(output, run, witness) as tracer:
        _run_workload(run, images, tracer)
    _prove(output, run)
    run.outputs["report"] = _write_report(output)
    run.outputs["signing cert"] = output / REPORT_CERT
    _narrate(run, len(written), stream)
    return run


def _run_workload(run: DemoRun, images: Path, tracer: Tracer) -> None:
    # A fresh key each run: it lives in memory only, never in a file or a log.
    key = secrets.token_urlsafe(24)
    with Emulator(key=key, images=images) as emulator:
        run.endpoint = emulator.endpoint
        by_name: dict[str, CallRecord] = {}
        with ImageAnalysisClient(
            emulator.endpoint, AzureKeyCredential(key), **_CLIENT_OPTIONS
        ) as client:
            for call in WORKLOAD:
                if not call.aio:
                    by_name[call.name] = _run_sync(client, call, images, tracer)
        aio_calls = [c for c in WORKLOAD if c.aio]
        for record in asyncio.run(
            _run_async_calls(emulator.endpoint, key, aio_calls, images, tracer)
        ):
            by_name[record.name] = record
    run.records = [by_name[c.name] for c in WORKLOAD]


def _write_report(output: Path) -> Path:
    """The compliance report over the demo's month, from the closed store, signed."""
    from vision_audit.report import generate_report  # noqa: PLC0415
    from vision_audit.store._keys import read_public_key_files  # noqa: PLC0415

    today = utc_now().date()
    # The writer's key as an auditor holds it, apart from the store: the cover
    # can then say who signed, not only that the log is consistent.
    return generate_report(
        f"sqlite:///{output / 'audit.db'}",
        since=today.replace(day=1),
        until=today,
        out=output / "report.pdf",
        organization="vision-audit demo",
        public_keys=read_public_key_files([str(output / "public-key.pem")]),
        signer=_report_signer(output),
    )


def _report_signer(output: Path) -> ReportSigner:
    """
    The compliance office's report signing key, with a self-signed certificate.

    A real deployment signs with a certificate from its own certificate authority;
    the recipient checks the report against it with ``vision-audit verify-pdf``.
    """
    from vision_audit.report.signing import (  # noqa: PLC0415
        ReportSigner,
        make_signing_certificate,
        write_signing_files,
    )

    key, certificate = make_signing_certificate(
        "vision-audit demo compliance office (self-signed)"
    )
    key_path, certificate_path = output / "report-signing.pem", output / REPORT_CERT
    for stale in (key_path, certificate_path):
        stale.unlink(missing_ok=True)
    write_signing_files(
        key, certificate, key_file=key_path, certificate_file=certificate_path
    )
    return ReportSigner(key, certificate)


POLICY_PATH = Path(__file__).with_name("policy.toml")
"""The demo's policy: the three example purposes in one file."""


def _record_consents(store: AuditStore) -> None:
    """What the privacy office recorded before the workload: grants, a withdrawal."""
    granted = utc_now() - timedelta(days=30)
    for ref, subject, purpose, revoked in CONSENTS:
        record = ConsentRecord(
            ref=ref,
            subject_ref=subject,
            purposes=frozenset({purpose}),
            granted_at=granted,
            expires_at=granted + timedelta(days=365),
        )
        grant_consent(store, record, actor="privacy-office")
        if revoked:
            revoke_consent(
                store, ref, actor="privacy-office", reason="withdrawn by email"
            )


def _review(store: AuditStore, provider: TracerProvider, run: DemoRun) -> None:
    """
    The reviewers' morning: decide some of the queue, correct one decision.

    The clinic's lead approves the hallway and prescription analyses; the claims
    supervisor corrects the first decision on a claim photo; the rest stays pending.
    """
    pending = {p.purpose: p for p in reversed(list_pending_reviews(store))}
    decided = 0
    intake = [p for p in list_pending_reviews(store) if p.purpose == "patient-intake"]
    for item in intake[:2]:
        record_review_decision(
            store,
            item.analysis_id,
            decision="approve",
            reviewer="dr-okafor",
            rationale="Intake photo and documents match the registration.",
            tracer_provider=provider,
        )
        decided += 1
    retail = pending.get("retail-shelf-analytics")
    if retail is not None:
        first = record_review_decision(
            store,
            retail.analysis_id,
            decision="approve",
            reviewer="store-ops-lead",
            rationale="Caption mentions scenery, not people.",
            tracer_provider=provider,
        )
        record_review_decision(
            store,
            retail.analysis_id,
            decision="override",
            reviewer="privacy-office",
            rationale="Correction: the storefront tag belongs to this photo.",
            add_tags=("storefront",),
            supersedes=first.event.event_id,
            tracer_provider=provider,
        )
        decided += 1
    run.reviews_decided = decided
    run.reviews_pending = len(list_pending_reviews(store))


def _make_witness(output: Path) -> Witness:
    """
    The compliance office's witness: its own key and state, in a folder of its own.

    In a real deployment it runs on another account or machine than the service,
    from a scheduler (``vision-audit witness cosign``); here it shares the folder.
    """
    folder = output / "witness"
    folder.mkdir(exist_ok=True)
    for stale in folder.iterdir():
        stale.unlink()
    key = generate_signing_key()
    write_new_file(folder / "witness.pem", private_key_pem(key), mode=0o600)
    witness = Witness(
        name=DEMO_WITNESS,
        key=key,
        state=folder / "state.json",
        logs=[],
    )
    write_new_file(
        folder / "witness.vkey", f"{witness.verifier.vkey()}\n".encode(), mode=0o644
    )
    return witness


def _cosign(store: ManagedAuditStore, witness: Witness, run: DemoRun) -> None:
    """The witness's round: the latest checkpoint, if it extends the last one."""
    cosignature = cosign_latest(store, witness)
    if cosignature is not None:
        run.witnessed.append(cosignature.sequence)


def _prove(output: Path, run: DemoRun) -> None:
    """The evidence bundle of the first analysis sent to review, for legal."""
    target = next(
        (r.audit_id for r in run.records if r.outcome == "ok" and r.audit_id), None
    )
    if target is None:  # pragma: no cover - the workload has successful calls
        return
    store = open_store(f"sqlite:///{output / 'audit.db'}", read_only=True)
    try:
        bundle = make_bundle(store, target)  # type: ignore[arg-type] # a BaseAuditStore
    finally:
        store.close()
    path = output / "proof.json"
    path.write_text(dump_bundle(bundle), encoding="utf-8")
    run.outputs["proof"] = path
    run.proven = target


@contextmanager
def _audited(output: Path, run: DemoRun, witness: Witness) -> Iterator[Tracer]:
    """
    Instrument the SDK with a fresh store, a trace file and an audit log file.

    Yields the application's tracer, whose spans are the parents of the calls'.
    """
    store_path = output / "audit.db"
    for stale in output.glob("audit.db*"):
        stale.unlink()
    traces_path = output / "traces.json"
    (output / "traces.jsonl").unlink(missing_ok=True)  # written by older versions
    log_path = output / "audit-log.jsonl"
    # The writer's signing key signs the chain's checkpoints; the public half is
    # what an auditor needs to verify without being able to forge.
    signing_key = generate_signing_key()
    for stale in (output / "signing-key.pem", output / "public-key.pem"):
        stale.unlink(missing_ok=True)
    write_new_file(output / "signing-key.pem", private_key_pem(signing_key), mode=0o600)
    write_new_file(
        output / "public-key.pem", public_key_pem(signing_key.public_key()), mode=0o644
    )
    store = open_store(
        f"sqlite:///{store_path}", signing_key=signing_key, origin=DEMO_ORIGIN
    )
    witness.follow(NoteVerifier.for_key(DEMO_ORIGIN, signing_key.public_key()))
    _record_consents(store)
    provider = TracerProvider(resource=Resource.create({"service.name": "demo"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPJSONFileExporter(traces_path)))
    audit_logger = logging.getLogger(AUDIT_LOGGER_NAME)
    handler = logging.FileHandler(log_path, mode="w", encoding="utf-8")
    handler.setFormatter(JSONFormatter())
    previous_level = audit_logger.level
    audit_logger.addHandler(handler)
    audit_logger.setLevel(logging.INFO)
    instrumentor = VisionAuditInstrumentor()
    instrumentor.instrument(
        store=store,
        tracer_provider=provider,
        policy=load_policy(POLICY_PATH),
        consent="store",
    )
    try:
        yield provider.get_tracer("vision_audit.demo")
        # The witness sees the log once the calls are made, and again once
        # the reviewers have decided: the second time, only if it extends the
        # first (a consistency proof).
        store.sign_checkpoint()
        _cosign(store, witness, run)
        _review(store, provider, run)
        store.sign_checkpoint()
        _cosign(store, witness, run)
    finally:
        instrumentor.uninstrument()
        audit_logger.removeHandler(handler)
        audit_logger.setLevel(previous_level)
        handler.close()
        provider.shutdown()
        run.event_counts = Counter(r.event.type for r in store.iter_events())
        store.close()
    run.outputs["audit store"] = store_path
    run.outputs["public key"] = output / "public-key.pem"
    run.outputs["witness key"] = output / "witness" / "witness.vkey"
    run.outputs["audit log"] = log_path
    run.outputs["traces"] = traces_path
    run.outputs["images"] = output / "images"


def _narrate(run: DemoRun, inputs: int, stream: IO[str]) -> None:
    sdk = version("azure-ai-vision-imageanalysis")
    ok = sum(1 for r in run.records if r.outcome == "ok")
    print(
        f"vision-audit demo: {len(run.records)} calls through "
        "azure-ai-vision-imageanalysis "
        f"{sdk} against the local emulator at {run.endpoint}",
        file=stream,
    )
    print(f"{'purpose':<28} {'call':<34} result", file=stream)
    for r in run.records:
        if r.outcome == "ok":
            found = {
                "tags": f"tags={len(r.tags)}",
                "caption": "caption",
                "objects": f"objects={r.objects}",
                "people": f"people={r.people}",
                "read": f"text_lines={r.text_lines}",
                "smartCrops": "crops",
                "denseCaptions": "dense_captions",
            }
            detail = "ok     " + " ".join(found[f] for f in r.features)
        elif r.outcome == "denied":
            detail = f"DENIED by policy: {r.error_code}"
        else:
            detail = f"failed {r.status} {r.error_code}"
        print(
            f"{r.purpose:<28} {r.name:<34} {detail}  ({r.duration_ms:.1f} ms)",
            file=stream,
        )
    denied = sum(1 for r in run.records if r.outcome == "denied")
    failed = len(run.records) - ok - denied
    print(
        f"{ok} succeeded; {denied} denied by the policy before anything was sent; "
        f"{failed} failed as Azure fails them (broken uploads, a missing blob, a "
        "service error).",
        file=stream,
    )
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(run.event_counts.items()))
    print(f"Audited: {sum(run.event_counts.values())} events ({counts}).", file=stream)
    print(
        f"Reviewed: {run.reviews_decided} analyses decided by reviewers (one decision "
        f"corrected); {run.reviews_pending} still pending in `vision-audit review "
        "list`.",
        file=stream,
    )
    print("Outputs:", file=stream)
    described = {
        "audit store": "the system of record (SQLite, hash-chained)",
        "audit log": "the same events as structlog JSON lines",
        "traces": "the spans as OTLP/JSON, for a trace viewer to import",
        "images": f"{inputs} inputs, with the sidecar scripts the emulator obeys",
        "report": "the compliance report for legal review (tagged PDF/A-3a, signed)",
        "signing cert": "the report's signing certificate (self-signed)",
        "public key": "the log's key: who wrote the checkpoints",
        "witness key": "the compliance office's witness: who saw them",
        "proof": "one analysis's events with their Merkle proofs (vision-audit prove)",
    }
    for name, path in run.outputs.items():
        print(f"  {name:<12} {path}  ({described[name]})", file=stream)
    if run.witnessed:
        print(
            f"Witnessed: the log's checkpoints at tree sizes "
            f"{' and '.join(map(str, run.witnessed))} were cosigned by {DEMO_WITNESS}, "
            "the second only after a consistency proof from the first.",
            file=stream,
        )
    store = run.outputs.get("audit store")
    if store is not None:
        url = f"sqlite:///{store}"
        print("Next, try:", file=stream)
        # The reviewer console, with the pictures from the demo's own folder.
        console_key = Path(store).parent / "console.key"
        for command in (
            f"vision-audit review list --store {url}",
            f"vision-audit review token --reviewer you --secret-file {console_key}",
            (
                f"vision-audit review serve --store {url} --image-dir "
                f"{run.outputs['images']} --secret-file {console_key}"
            ),
            (
                f"vision-audit verify --store {url} --public-key "
                f"{run.outputs['public key']} --witness-key "
                f"{run.outputs['witness key']}"
            ),
            (
                f"vision-audit prove {run.proven} --store {url} --output proof.json"
                if run.proven
                else ""
            ),
            (
                f"vision-audit verify --bundle {run.outputs.get('proof', 'proof.json')}"
                f" --witness-key {run.outputs['witness key']}"
            ),
            f"vision-audit export --store {url} --output audit-export.jsonl",
            (
                f"vision-audit verify-pdf {run.outputs['report']} --cert "
                f"{run.outputs['signing cert']}"
            ),
        ):
            if command:
                print(f"  {command}", file=stream)
