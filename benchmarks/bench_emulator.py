"""
Latency of a bare SDK call against the emulator, with a 200 KB image.

Baseline: the same POST sent with ``http.client`` on a kept-alive connection, so the
ratio says what the SDK adds on top of the wire and the emulator's own work. Both
are interleaved in one run against one emulator process.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_emulator.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import http.client
import secrets
import statistics
import time
from http import HTTPStatus
from urllib.parse import urlsplit

from _common import emulator_process, percentile, photo_200kb
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.core.credentials import AzureKeyCredential

FEATURES = ["TAGS", "CAPTION", "OBJECTS", "PEOPLE"]
QUERY = "api-version=2023-10-01&features=tags,caption,objects,people"


def main() -> None:
    """Measure and print medians, p95s and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    image = photo_200kb()
    key = secrets.token_urlsafe(16)
    with emulator_process(key) as endpoint:
        split = urlsplit(endpoint)
        raw = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
        headers = {
            "Ocp-Apim-Subscription-Key": key,
            "Content-Type": "application/octet-stream",
        }
        sdk_times: list[float] = []
        raw_times: list[float] = []
        with ImageAnalysisClient(endpoint, AzureKeyCredential(key)) as client:
            for _warmup in range(20):
                client.analyze(image_data=image, visual_features=FEATURES)
                raw.request(
                    "POST",
                    f"/computervision/imageanalysis:analyze?{QUERY}",
                    image,
                    headers,
                )
                raw.getresponse().read()
            for _ in range(args.rounds):
                started = time.perf_counter()
                client.analyze(image_data=image, visual_features=FEATURES)
                sdk_times.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                raw.request(
                    "POST",
                    f"/computervision/imageanalysis:analyze?{QUERY}",
                    image,
                    headers,
                )
                response = raw.getresponse()
                response.read()
                raw_times.append((time.perf_counter() - started) * 1000)
                assert response.status == HTTPStatus.OK
        raw.close()
    sdk_p50, raw_p50 = statistics.median(sdk_times), statistics.median(raw_times)
    print(
        f"image: {len(image) / 1024:.0f} KB JPEG, features {','.join(FEATURES)}, "
        f"{args.rounds} interleaved rounds"
    )
    print(f"{'':24} {'p50 ms':>8} {'p95 ms':>8}")
    print(
        f"{'http.client (baseline)':24} {raw_p50:8.2f} "
        f"{percentile(raw_times, 0.95):8.2f}"
    )
    print(f"{'bare SDK call':24} {sdk_p50:8.2f} {percentile(sdk_times, 0.95):8.2f}")
    print(f"ratio SDK / baseline at p50: {sdk_p50 / raw_p50:.2f}")


if __name__ == "__main__":
    main()
