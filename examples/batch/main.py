"""
A batch job: analyze every image of a folder for one purpose, audited under a policy.

Run: ``python main.py FOLDER --purpose retail-shelf-analytics --policy POLICY``.
Each image is sent as bytes; each result is printed with its audit id, and a summary
ends the run. A picture the policy refuses or the service cannot read is reported
and the job goes on; the exit status is 1 when any image was not analyzed.

It reads ``VISION_ENDPOINT`` and ``VISION_KEY`` (a ``vision-audit emulator`` will do),
and ``VISION_AUDIT_STORE`` when ``--store`` is not given.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections import Counter
from pathlib import Path

from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.ai.vision.imageanalysis.models import VisualFeatures
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from vision_audit import (
    ConsentRequiredError,
    TagBlockedError,
    VisionAuditInstrumentor,
    audit_context,
    get_audit_id,
)

IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".ico", ".tif", ".tiff", ".mpo",
}  # fmt: skip
DEFAULT_FEATURES = ["tags", "objects"]


def images_in(folder: Path) -> list[Path]:
    """The image files of *folder* (not recursive), in name order."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    )


def analyze_folder(
    client: ImageAnalysisClient,
    folder: Path,
    *,
    features: list[VisualFeatures],
    purpose: str,
    actor: str,
    run: str,
) -> Counter[str]:
    """Analyze each image and print one line per image; count the outcomes."""
    outcomes: Counter[str] = Counter()
    # The run id is a label on every event, so the whole run can be found again,
    # failures and denials included.
    with audit_context(purpose=purpose, actor=actor, batch_run=run):
        for path in images_in(folder):
            try:
                result = client.analyze(
                    image_data=path.read_bytes(), visual_features=features
                )
            except ConsentRequiredError as err:
                outcomes["denied"] += 1
                print(f"{path.name}: denied ({err.reason})")
                continue
            except TagBlockedError as err:
                # The service answered; the purpose keeps back results that name a
                # block-listed tag. The answer is in the store under this audit id.
                outcomes["withheld"] += 1
                print(f"{path.name}: withheld ({', '.join(err.tags)})")
                continue
            except HttpResponseError as err:
                outcomes["failed"] += 1
                code = err.error.code if err.error else err.status_code
                print(f"{path.name}: failed ({code})")
                continue
            outcomes["analyzed"] += 1
            tags = ", ".join(tag.name for tag in result.tags.list)
            print(f"{path.name}: audit id {get_audit_id(result)}: {tags or '-'}")
    return outcomes


def main() -> int:
    """Run the batch; exit 1 if any image was not analyzed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder of images")
    parser.add_argument("--purpose", required=True, help="the purpose of the whole run")
    parser.add_argument("--actor", default="batch-job", help="who runs it")
    parser.add_argument(
        "--feature",
        action="append",
        choices=[feature.value for feature in VisualFeatures],
        help="a visual feature to ask for; repeatable (default: tags, objects)",
    )
    parser.add_argument("--policy", help="default: $VISION_AUDIT_POLICY")
    parser.add_argument("--store", help="default: $VISION_AUDIT_STORE")
    args = parser.parse_args()
    if not args.folder.is_dir():
        parser.error(f"not a folder: {args.folder}")

    run = uuid.uuid4().hex[:12]
    instrumentor = VisionAuditInstrumentor()
    instrumentor.instrument(policy=args.policy, store=args.store)
    try:
        with ImageAnalysisClient(
            os.environ["VISION_ENDPOINT"],
            AzureKeyCredential(os.environ["VISION_KEY"]),
        ) as client:
            print(f"batch run {run}: {args.folder} for {args.purpose}")
            outcomes = analyze_folder(
                client,
                args.folder,
                features=[VisualFeatures(f) for f in args.feature or DEFAULT_FEATURES],
                purpose=args.purpose,
                actor=args.actor,
                run=run,
            )
    finally:
        instrumentor.uninstrument()  # closes the audit store it opened
    total = sum(outcomes.values())
    print(
        f"summary: {total} images, {outcomes['analyzed']} analyzed, "
        f"{outcomes['denied']} denied, {outcomes['withheld']} withheld, "
        f"{outcomes['failed']} failed"
    )
    return 0 if outcomes["analyzed"] == total else 1


if __name__ == "__main__":
    sys.exit(main())
