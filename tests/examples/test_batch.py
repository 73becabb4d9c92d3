"""examples/batch: a folder of images, one purpose, a summary with audit ids."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tests.examples.conftest import (
    example_env,
    make_shelf_photos,
    read_events,
    run_batch,
)

if TYPE_CHECKING:
    from pathlib import Path

    from vision_audit.emulator import Emulator

AUDIT_ID = re.compile(r"^(?P<name>\S+): audit id (?P<id>[0-9a-f]{32}): (?P<tags>.*)$")


class TestBatch:
    """Every image is analyzed under the purpose, audited, and reported."""

    def test_folder(
        self, tmp_path: Path, store_url: str, emulator: Emulator, emulator_key: str
    ) -> None:
        """Results carry the ids the store knows; a broken upload fails alone."""
        photos = make_shelf_photos(tmp_path / "shelves")
        env = example_env(emulator.endpoint, emulator_key)

        completed = run_batch(photos, store_url, env)

        assert 1 == completed.returncode, completed.stderr
        lines = completed.stdout.splitlines()
        printed = {m["name"]: m for m in map(AUDIT_ID.match, lines) if m}
        assert ["aisle-01.jpg", "aisle-02.jpg", "aisle-04.jpg"] == sorted(printed)
        # The allow list keeps shelf tags only: the shopper never reaches the job.
        assert "shelf, bottle, product" == printed["aisle-01.jpg"]["tags"]
        assert "shelf" == printed["aisle-02.jpg"]["tags"]
        assert "shelf, bottle" == printed["aisle-04.jpg"]["tags"]
        assert "aisle-03.png: failed (InvalidRequest)" in lines
        assert (
            "summary: 4 images, 3 analyzed, 0 denied, 0 withheld, 1 failed" == lines[-1]
        ), completed.stdout
        events = [r.event for r in read_events(store_url)]
        completed_ids = {
            e.analysis_id for e in events if e.type == "analysis.completed"
        }
        assert {m["id"] for m in printed.values()} == completed_ids
        assert 1 == sum(e.type == "analysis.failed" for e in events)
        # Every call's events carry the purpose; the policy is named once, first.
        assert "policy.activated" == events[0].type
        assert {"retail-shelf-analytics"} == {e.purpose for e in events[1:]}
        # One run label on every request, failures included.
        run = lines[0].split()[2].rstrip(":")
        requested = [e for e in events if e.type == "analysis.requested"]
        assert 4 == len(requested)
        assert all(run == e.data["labels"]["batch_run"] for e in requested)

    def test_feature_outside_the_purpose(
        self, tmp_path: Path, store_url: str, emulator: Emulator, emulator_key: str
    ) -> None:
        """Asking for people, which the purpose forbids, is denied image by image."""
        photos = make_shelf_photos(tmp_path / "shelves")
        env = example_env(emulator.endpoint, emulator_key)

        completed = run_batch(photos, store_url, env, "tags", "people")

        assert 1 == completed.returncode
        assert "aisle-01.jpg: denied (feature-not-allowed)" in completed.stdout
        assert completed.stdout.endswith(
            "summary: 4 images, 0 analyzed, 4 denied, 0 withheld, 0 failed\n"
        )
        types = [r.event.type for r in read_events(store_url)]
        assert ["policy.activated"] + ["analysis.denied"] * 4 == types

    def test_withheld_on_a_blocked_tag(
        self, tmp_path: Path, store_url: str, emulator: Emulator, emulator_key: str
    ) -> None:
        """A purpose that withholds results showing people: those photos are counted."""
        policy = tmp_path / "no-shoppers.toml"
        policy.write_text(
            '[policy]\nname = "no-shoppers"\nversion = "1"\n'
            "[purposes.retail-shelf-analytics]\nrequire_consent = false\n"
            'features = ["tags", "objects"]\n'
            "[purposes.retail-shelf-analytics.tags]\n"
            'block = ["person", "man", "woman"]\non_blocked = "withhold"\n',
            encoding="utf-8",
        )
        photos = make_shelf_photos(tmp_path / "shelves")
        env = example_env(emulator.endpoint, emulator_key)

        completed = run_batch(photos, store_url, env, policy=policy)

        lines = completed.stdout.splitlines()
        assert 1 == completed.returncode, completed.stderr
        assert "aisle-02.jpg: withheld (man, person)" in lines
        assert "aisle-04.jpg: withheld (person, woman)" in lines
        assert (
            "summary: 4 images, 1 analyzed, 0 denied, 2 withheld, 1 failed"
            == (lines[-1])
        )
        withheld = [
            r.event
            for r in read_events(store_url)
            if r.event.type == "analysis.completed" and "withheld" in r.event.data
        ]
        assert ["tag-blocked"] * 2 == [e.data["withheld"] for e in withheld]


def test_shipped_images_run_as_the_readme_says(
    emulator, emulator_key, tmp_path
) -> None:
    """The README's command over the shipped images: two analyzed, one refused."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.examples.conftest import example_env

    folder = Path(__file__).resolve().parents[2] / "examples" / "batch"
    command = [sys.executable, "main.py", "../images/shelves"]
    command += ["--purpose", "retail-shelf-analytics"]
    command += ["--policy", "../policies/retail-shelf-analytics.toml"]
    command += ["--store", f"sqlite:///{tmp_path / 'audit.db'}"]
    command += ["--feature", "tags", "--feature", "caption"]
    completed = subprocess.run(
        command,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=example_env(emulator.endpoint, emulator_key),
    )

    assert 1 == completed.returncode, completed.stderr
    assert "summary: 3 images, 2 analyzed, 0 denied, 0 withheld, 1 failed" in (
        completed.stdout
    )


def test_images_the_readmes_name_are_shipped() -> None:
    """Every ../images/ path an example's README names exists in the repository."""
    import re
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    named = {
        (readme.parent / match).resolve()
        for readme in examples.glob("*/README.md")
        for match in re.findall(r"\.\./images/[\w./-]+", readme.read_text())
    }

    assert named
    assert [] == [str(path) for path in sorted(named) if not path.exists()]
