"""Loading policy files: the format, its defaults, the policy id, and clear errors."""

from __future__ import annotations

import datetime as dt
import math
import re
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vision_audit import environment_variables as env
from vision_audit.exceptions import PolicyError, VisionAuditError
from vision_audit.policy import (
    BUILTIN_HEALTH_TAGS,
    Policy,
    ReviewRule,
    TagFilter,
    load_policy,
    parse_duration,
    parse_policy,
    policy_from_environment,
)

FULL = """
[policy]
name = "insurance-claims"
version = "2026-11-01"
mode = "audit"
description = "Claim photos."

[retention]
content = "30d"
metadata = "400d"
decisions = "7y"

[sensitive]
people_threshold = 0.7
health_tags = "builtin"
extra_health_tags = ["Scrubs"]
not_health_tags = ["cane"]

[purposes.insurance-claim-assessment]
description = "Assess damage."
require_consent = true
features = ["tags", "caption", "OBJECTS", "read", "dense_captions"]
capture_content = false

[purposes.insurance-claim-assessment.tags]
block = ["Person", "man", "  human   face "]
min_confidence = 0.5

[purposes.insurance-claim-assessment.review]
on = ["low_confidence", "health"]
low_confidence_below = 0.6
deadline = "48h"
four_eyes = true
gate = true
gate_timeout = "90s"
gate_default = "release"
"""


class TestLoadPolicy:
    """A valid file becomes frozen values."""

    def test_full(self, write_policy) -> None:
        """Every key is read into its place, names normalised, durations parsed."""
        path = write_policy(FULL)

        policy = load_policy(path)

        purpose = policy.purposes["insurance-claim-assessment"]
        assert ("insurance-claims", "2026-11-01", "audit") == (
            policy.name,
            policy.version,
            policy.mode,
        )
        assert (
            dt.timedelta(days=30),
            dt.timedelta(days=400),
            dt.timedelta(days=7 * 365),
        ) == (
            policy.retention.content,
            policy.retention.metadata,
            policy.retention.decisions,
        )
        assert 0.7 == policy.sensitive.people_threshold
        assert "scrubs" in policy.sensitive.health_tags
        assert "cane" not in policy.sensitive.health_tags
        assert {"tags", "caption", "objects", "read", "denseCaptions"} == set(
            purpose.features
        )
        assert (
            TagFilter(
                block=frozenset({"person", "man", "human face"}), min_confidence=0.5
            )
            == purpose.tags
        )
        assert (
            ReviewRule(
                on=frozenset({"low_confidence", "health"}),
                low_confidence_below=0.6,
                deadline=dt.timedelta(hours=48),
                four_eyes=True,
                gate=True,
                gate_timeout=dt.timedelta(seconds=90),
                gate_default="release",
            )
            == purpose.review
        )
        assert (True, False) == (purpose.require_consent, purpose.capture_content)
        assert str(path) == policy.source

    def test_defaults(self, write_policy, minimal_policy: str) -> None:
        """Left out: enforce, no retention limit, built-in health list, consent on."""
        policy = load_policy(write_policy(minimal_policy))

        purpose = policy.purposes["claims"]
        assert "enforce" == policy.mode
        assert (None, None, None) == (
            policy.retention.content,
            policy.retention.metadata,
            policy.retention.decisions,
        )
        assert BUILTIN_HEALTH_TAGS == policy.sensitive.health_tags
        assert 0.5 == policy.sensitive.people_threshold
        assert purpose.require_consent
        assert purpose.capture_content
        assert TagFilter() == purpose.tags
        assert ReviewRule() == purpose.review

    def test_bare_date_version(self) -> None:
        """An unquoted TOML date as the version is taken as written."""
        policy = parse_policy(
            '[policy]\nname = "n"\nversion = 2026-11-01\n'
            '[purposes.p]\nfeatures = ["tags"]\n'
        )

        assert "2026-11-01" == policy.version

    def test_own_health_list(self) -> None:
        """``health_tags`` as an array replaces the built-in list."""
        policy = parse_policy(
            '[policy]\nname = "n"\nversion = "1"\n'
            '[sensitive]\nhealth_tags = ["Wheelchair", "stretcher"]\n'
            '[purposes.p]\nfeatures = ["tags"]\n'
        )

        assert {"wheelchair", "stretcher"} == policy.sensitive.health_tags

    def test_frozen(self, write_policy, minimal_policy: str) -> None:
        """A loaded policy cannot be changed."""
        policy = load_policy(write_policy(minimal_policy))

        with pytest.raises(AttributeError):
            policy.mode = "audit"  # type: ignore[misc]
        with pytest.raises(TypeError):
            policy.purposes["other"] = policy.purposes["claims"]  # type: ignore[index]

    def test_get_purpose(self, write_policy, minimal_policy: str) -> None:
        """Purposes are found by their exact name only."""
        policy = load_policy(write_policy(minimal_policy))

        assert policy.purposes["claims"] is policy.get_purpose("claims")
        assert None is policy.get_purpose("Claims")
        assert None is policy.get_purpose(None)


class TestPolicyId:
    """The id hashes the rules, not the file's layout."""

    def test_form(self, write_policy, minimal_policy: str) -> None:
        """``sha256:`` and 64 lowercase hex digits."""
        policy = load_policy(write_policy(minimal_policy))

        assert re.fullmatch(r"sha256:[0-9a-f]{64}", policy.policy_id)

    def test_layout_does_not_matter(self) -> None:
        """Comments, key order, spacing, case of tags: the same rules, the same id."""
        one = parse_policy(
            '[policy]\nname = "n"\nversion = "1"\n'
            '[purposes.p]\nfeatures = ["tags", "read"]\n'
            '[purposes.p.tags]\nblock = ["Person", "car"]\n'
        )
        two = parse_policy(
            '# a comment\n[purposes.p]\nfeatures = ["read", "TAGS"]  # reordered\n'
            'tags = { block = ["car", " person "] }\n'
            '[policy]\nversion = "1"\nname = "n"\nmode = "enforce"\n',
            source="other.toml",
        )

        assert one.policy_id == two.policy_id
        assert one == two

    @pytest.mark.parametrize(
        "change",
        [
            ('version = "1"', 'version = "2"'),
            ('features = ["tags"]', 'features = ["tags", "read"]'),
            ('block = ["person"]', 'block = ["person", "man"]'),
            ("min_confidence = 0.5", "min_confidence = 0.55"),
            ("min_confidence = 0.5", 'min_confidence = 0.5\non_blocked = "withhold"'),
            ('content = "30d"', 'content = "31d"'),
        ],
    )
    def test_any_rule_changes_it(self, change: tuple[str, str]) -> None:
        """A change of any rule gives another id."""
        text = (
            '[policy]\nname = "n"\nversion = "1"\n[retention]\ncontent = "30d"\n'
            '[purposes.p]\nfeatures = ["tags"]\n'
            '[purposes.p.tags]\nblock = ["person"]\nmin_confidence = 0.5\n'
        )

        before = parse_policy(text)
        after = parse_policy(text.replace(*change))

        assert before.policy_id != after.policy_id

    def test_stated_default_keeps_the_id(self) -> None:
        """``on_blocked = "drop"`` is the default: stating it changes no id."""
        text = (
            '[policy]\nname = "n"\nversion = "1"\n[purposes.p]\nfeatures = ["tags"]\n'
            '[purposes.p.tags]\nblock = ["person"]\n'
        )

        stated = parse_policy(text + 'on_blocked = "drop"\n')

        assert parse_policy(text).policy_id == stated.policy_id
        assert "on_blocked" not in stated.as_dict()["purposes"]["p"]["tags"]

    def test_withhold(self) -> None:
        """``on_blocked = "withhold"`` is kept, and shown with the rules in force."""
        policy = parse_policy(
            '[policy]\nname = "n"\nversion = "1"\n[purposes.p]\nfeatures = ["tags"]\n'
            '[purposes.p.tags]\nblock = ["Person"]\non_blocked = "withhold"\n'
        )

        purpose = policy.purposes["p"]
        assert "withhold" == purpose.tags.on_blocked
        assert "withhold" == policy.as_dict()["purposes"]["p"]["tags"]["on_blocked"]

    def test_hash_of_canonical_json(self, write_policy, minimal_policy: str) -> None:
        """The id is the SHA-256 of the canonical JSON the policy shows."""
        import hashlib

        policy = load_policy(write_policy(minimal_policy))

        digest = hashlib.sha256(policy.canonical_json().encode()).hexdigest()
        assert f"sha256:{digest}" == policy.policy_id
        assert policy.as_dict()["format"] == 1


class TestParseDuration:
    """``30d``, ``12h``, ``7y`` style durations."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("30d", dt.timedelta(days=30)),
            ("12h", dt.timedelta(hours=12)),
            ("7y", dt.timedelta(days=7 * 365)),
            ("2w", dt.timedelta(weeks=2)),
            ("90m", dt.timedelta(minutes=90)),
            ("45s", dt.timedelta(seconds=45)),
            (" 1d 12h ", dt.timedelta(hours=36)),
        ],
    )
    def test_valid(self, text: str, expected: dt.timedelta) -> None:
        """Each unit, and units combined."""
        assert expected == parse_duration(text)

    @pytest.mark.parametrize(
        "text", ["", "30", "d", "30 days", "-1d", "1.5d", "30D", "1M", "0d", "1001y"]
    )
    def test_invalid(self, text: str) -> None:
        """Anything else is refused, saying what is accepted."""
        with pytest.raises(ValueError, match=r"duration|1000 years"):
            parse_duration(text)

    @given(st.integers(min_value=1, max_value=50_000), st.sampled_from("wdhms"))
    def test_round_numbers(self, count: int, unit: str) -> None:
        """A count of a unit is that many of it."""
        seconds = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}[unit]

        assert dt.timedelta(seconds=count * seconds) == parse_duration(f"{count}{unit}")


BASE = """
[policy]
name = "n"
version = "1"

[purposes.p]
features = ["tags"]
"""

# (policy text, the key the error must name, what it must say is accepted)
INVALID = {
    "broken TOML": ('[policy\nname = "n"', "", "not valid TOML"),
    "duplicate key": (
        '[policy]\nname = "a"\nname = "b"\n',
        "",
        "not valid TOML",
    ),
    "no policy table": ('[purposes.p]\nfeatures = ["tags"]\n', "policy", "[policy]"),
    "no purposes": ('[policy]\nname = "n"\nversion = "1"\n', "purposes", "purposes"),
    "empty purposes": (
        BASE.replace('[purposes.p]\nfeatures = ["tags"]', "[purposes]"),
        "purposes",
        "at least one",
    ),
    "unknown top-level table": (
        BASE + "[polcy]\n",
        "(top level)",
        "accepted keys: policy, purposes, retention, sensitive",
    ),
    "unknown key in policy": (
        BASE.replace('version = "1"', 'version = "1"\nowner = "x"'),
        "policy",
        "accepted keys: description, mode, name, version",
    ),
    "missing name": (BASE.replace('name = "n"\n', ""), "policy.name", "needs a name"),
    "empty name": (BASE.replace('name = "n"', 'name = "  "'), "policy.name", "empty"),
    "name not a string": (
        BASE.replace('name = "n"', "name = 3"),
        "policy.name",
        "expected a string, got integer 3",
    ),
    "bad mode": (
        BASE.replace('version = "1"', 'version = "1"\nmode = "strict"'),
        "policy.mode",
        "use one of: enforce, audit",
    ),
    "mode not a string": (
        BASE.replace('version = "1"', 'version = "1"\nmode = true'),
        "policy.mode",
        "use one of: enforce, audit",
    ),
    "retention of images": (
        BASE + '[retention]\nimages = "1d"\n',
        "retention.images",
        "images are never stored",
    ),
    "unknown retention class": (
        BASE + '[retention]\ncaptions = "1d"\n',
        "retention",
        "accepted keys: content, decisions, metadata",
    ),
    "retention as a number": (
        BASE + "[retention]\ncontent = 30\n",
        "retention.content",
        'a duration such as "30d"',
    ),
    "retention without unit": (
        BASE + '[retention]\ncontent = "30"\n',
        "retention.content",
        'a duration such as "30d"',
    ),
    "threshold out of range": (
        BASE + "[sensitive]\npeople_threshold = 1.5\n",
        "sensitive.people_threshold",
        "not between 0 and 1",
    ),
    "threshold a boolean": (
        BASE + "[sensitive]\npeople_threshold = true\n",
        "sensitive.people_threshold",
        "a number between 0 and 1",
    ),
    "threshold nan": (
        BASE + "[sensitive]\npeople_threshold = nan\n",
        "sensitive.people_threshold",
        "not between 0 and 1",
    ),
    "health list name": (
        BASE + '[sensitive]\nhealth_tags = "default"\n',
        "sensitive.health_tags",
        '"builtin" or an array',
    ),
    "health list type": (
        BASE + "[sensitive]\nhealth_tags = 1\n",
        "sensitive.health_tags",
        '"builtin" or an array',
    ),
    "purpose name with spaces": (
        BASE + '[purposes."claims review"]\nfeatures = ["tags"]\n',
        'purposes."claims review"',
        "a letter or digit, then letters, digits",
    ),
    "purpose not a table": (
        BASE + '[purposes]\nq = "tags"\n',
        "purposes.q",
        "expected a table",
    ),
    "purpose without features": (
        BASE + "[purposes.q]\nrequire_consent = false\n",
        "purposes.q",
        "missing key 'features'",
    ),
    "unknown purpose key": (
        BASE.replace('features = ["tags"]', 'features = ["tags"]\nfeature = "x"'),
        "purposes.p",
        (
            "accepted keys: capture_content, description, features, "
            "require_consent, review, tags"
        ),
    ),
    "unknown feature": (
        BASE.replace('features = ["tags"]', 'features = ["tags", "faces"]'),
        "purposes.p.features[1]",
        "accepted: tags, caption, denseCaptions, objects, read, smartCrops, people",
    ),
    "feature not a string": (
        BASE.replace('features = ["tags"]', "features = [1]"),
        "purposes.p.features[0]",
        "not a visual feature",
    ),
    "features not an array": (
        BASE.replace('features = ["tags"]', 'features = "tags"'),
        "purposes.p.features",
        "expected an array of visual feature names",
    ),
    "no features": (
        BASE.replace('features = ["tags"]', "features = []"),
        "purposes.p.features",
        "name the features the purpose needs",
    ),
    "consent flag not boolean": (
        BASE.replace(
            'features = ["tags"]', 'features = ["tags"]\nrequire_consent = "yes"'
        ),
        "purposes.p.require_consent",
        "expected true or false",
    ),
    "both lists": (
        BASE + '[purposes.p.tags]\nallow = ["a"]\nblock = ["b"]\n',
        "purposes.p.tags",
        "an allow list or a block list, not both",
    ),
    "empty allow list": (
        BASE + "[purposes.p.tags]\nallow = []\n",
        "purposes.p.tags.allow",
        "drops every tag",
    ),
    "unknown tags key": (
        BASE + '[purposes.p.tags]\ndeny = ["a"]\n',
        "purposes.p.tags",
        "accepted keys: allow, block, min_confidence",
    ),
    "block list not an array": (
        BASE + '[purposes.p.tags]\nblock = "person"\n',
        "purposes.p.tags.block",
        "an array of tag names",
    ),
    "tag not a string": (
        BASE + '[purposes.p.tags]\nblock = ["person", 7]\n',
        "purposes.p.tags.block[1]",
        "expected a string, got integer 7",
    ),
    "empty tag": (
        BASE + '[purposes.p.tags]\nblock = ["person", "   "]\n',
        "purposes.p.tags.block[1]",
        "empty tag name",
    ),
    "control character in tag": (
        BASE + '[purposes.p.tags]\nblock = ["per\\u0000son"]\n',
        "purposes.p.tags.block[0]",
        "contains control characters; none accepted",
    ),
    "escape sequence in tag": (
        BASE + '[purposes.p.tags]\nallow = ["\\u001b[31mred"]\n',
        "purposes.p.tags.allow[0]",
        "contains control characters",
    ),
    "10k-character tag": (
        BASE + f'[purposes.p.tags]\nblock = ["{"x" * 10_000}"]\n',
        "purposes.p.tags.block[0]",
        "10000 characters long; at most 256 accepted",
    ),
    "min confidence out of range": (
        BASE + "[purposes.p.tags]\nmin_confidence = -0.1\n",
        "purposes.p.tags.min_confidence",
        "not between 0 and 1",
    ),
    "min confidence as text": (
        BASE + '[purposes.p.tags]\nmin_confidence = "0.5"\n',
        "purposes.p.tags.min_confidence",
        "expected a number between 0 and 1, got string",
    ),
    "unknown on_blocked": (
        BASE + '[purposes.p.tags]\nblock = ["person"]\non_blocked = "raise"\n',
        "purposes.p.tags.on_blocked",
        "use one of: drop, withhold",
    ),
    "on_blocked as boolean": (
        BASE + '[purposes.p.tags]\nblock = ["person"]\non_blocked = true\n',
        "purposes.p.tags.on_blocked",
        "drop, withhold",
    ),
    "withhold without a block list": (
        BASE + '[purposes.p.tags]\nallow = ["car"]\non_blocked = "withhold"\n',
        "purposes.p.tags.on_blocked",
        "the purpose has no block list",
    ),
    "unknown review trigger": (
        BASE + '[purposes.p.review]\non = ["faces"]\n',
        "purposes.p.review.on[0]",
        "use one of: blocked, health, low_confidence, people, text",
    ),
    "unknown review key": (
        BASE + "[purposes.p.review]\nfour_eye = true\n",
        "purposes.p.review",
        "accepted keys: all, deadline, four_eyes",
    ),
    "bad deadline": (
        BASE + '[purposes.p.review]\ndeadline = "tomorrow"\n',
        "purposes.p.review.deadline",
        'a duration such as "30d"',
    ),
    "bad gate default": (
        BASE + '[purposes.p.review]\ngate_default = "allow"\n',
        "purposes.p.review.gate_default",
        "use one of: withhold, release",
    ),
    "purposes as array": (
        '[policy]\nname = "n"\nversion = "1"\n[[purposes]]\nx = 1\n',
        "purposes",
        "expected a table of [purposes.NAME]",
    ),
}


class TestPolicyErrors:
    """Every mistake is a PolicyError naming the file, the key and what is accepted."""

    @pytest.mark.parametrize(("text", "key", "accepted"), INVALID.values(), ids=INVALID)
    def test_invalid(self, write_policy, text: str, key: str, accepted: str) -> None:
        """The message starts with the file, then the key, then says what is wrong."""
        path = write_policy(text)

        with pytest.raises(PolicyError) as caught:
            load_policy(path)

        message = str(caught.value)
        assert message.startswith(f"{path}: {key}")
        assert accepted in message
        assert str(path) == caught.value.path
        assert "\x00" not in message
        assert "\x1b" not in message
        assert len(message) < 600

    def test_is_a_value_error(self) -> None:
        """Callers may catch it as ValueError or as VisionAuditError."""
        with pytest.raises(PolicyError) as caught:
            parse_policy("nonsense = ", source="x.toml")

        assert isinstance(caught.value, ValueError)
        assert isinstance(caught.value, VisionAuditError)

    def test_key_attribute(self, write_policy) -> None:
        """The dotted key at fault is kept on the error."""
        path = write_policy(BASE + '[purposes.p.tags]\nblock = ["a", 1]\n')

        with pytest.raises(PolicyError) as caught:
            load_policy(path)

        assert "purposes.p.tags.block[1]" == caught.value.key

    def test_hostile_key_is_escaped_and_cut(self, write_policy) -> None:
        """A long key with control characters is quoted, escaped and shortened."""
        key = "\\u0007" + "k" * 5000
        path = write_policy(BASE + f'[purposes.p.tags]\n"{key}" = 1\n')

        with pytest.raises(PolicyError) as caught:
            load_policy(path)

        message = str(caught.value)
        assert "\x07" not in message
        assert "\\x07" in message
        assert len(message) < 400

    def test_missing_file(self, tmp_path) -> None:
        """A file that is not there is named, with the reason."""
        path = tmp_path / "nope.toml"

        with pytest.raises(
            PolicyError, match=r"nope\.toml: cannot read the policy file"
        ):
            load_policy(path)

    def test_directory(self, tmp_path) -> None:
        """A directory is not a policy file."""
        with pytest.raises(PolicyError, match="cannot read the policy file"):
            load_policy(tmp_path)

    def test_not_utf8(self, tmp_path) -> None:
        """Bytes that are not UTF-8 are refused with their position."""
        path = tmp_path / "latin1.toml"
        path.write_bytes(b'[policy]\nname = "caf\xe9"\n')

        with pytest.raises(
            PolicyError, match=r"latin1\.toml: not UTF-8 text .* byte 20"
        ):
            load_policy(path)

    def test_binary(self, tmp_path) -> None:
        """A binary file is refused without a traceback of its contents."""
        path = tmp_path / "image.toml"
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

        with pytest.raises(PolicyError, match=r"image\.toml: not"):
            load_policy(path)

    def test_too_large(self, tmp_path) -> None:
        """More than 1 MiB is not a policy."""
        path = tmp_path / "huge.toml"
        path.write_text("# " + "x" * (1 << 20))

        with pytest.raises(PolicyError, match="larger than"):
            load_policy(path)

    @given(st.text(max_size=200))
    def test_any_text_loads_or_fails_cleanly(self, text: str) -> None:
        """Whatever the text, parsing returns a Policy or raises PolicyError."""
        outcome: object
        try:
            outcome = parse_policy(text, source="fuzz.toml")
        except PolicyError as err:
            outcome = str(err)

        assert isinstance(outcome, Policy | str)
        assert isinstance(outcome, Policy) or outcome.startswith("fuzz.toml: ")

    @given(
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats()
            | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=6), inner, max_size=3)
            ),
            max_leaves=12,
        )
    )
    def test_any_structure_in_a_purpose_fails_cleanly(self, value: object) -> None:
        """Any value at any purpose key gives a Policy or a PolicyError."""
        import json

        def toml_value(item: object) -> str:
            if item is None:
                return '""'
            if isinstance(item, bool):
                return "true" if item else "false"
            if isinstance(item, float):
                return repr(item) if math.isfinite(item) else "nan"
            if isinstance(item, list):
                return "[" + ", ".join(toml_value(i) for i in item) + "]"
            if isinstance(item, dict):
                inner = ", ".join(
                    f"{json.dumps(k)} = {toml_value(v)}" for k, v in item.items()
                )
                return "{" + inner + "}"
            return json.dumps(item)

        for key in ("features", "tags", "review", "require_consent"):
            text = textwrap.dedent(BASE).replace(
                'features = ["tags"]', f"{key} = {toml_value(value)}"
            )
            if key != "features":
                text += 'features = ["tags"]\n'
            outcome: object
            try:
                outcome = parse_policy(text, source="fuzz.toml")
            except PolicyError as err:
                outcome = str(err)

            assert isinstance(outcome, Policy | str)
            assert isinstance(outcome, Policy) or outcome.startswith("fuzz.toml: ")


class TestPolicyFromEnvironment:
    """``VISION_AUDIT_POLICY`` names the file."""

    def test_unset(self) -> None:
        """No variable, no policy."""
        assert None is policy_from_environment({})

    def test_empty(self) -> None:
        """An empty variable counts as unset."""
        assert None is policy_from_environment({env.VISION_AUDIT_POLICY: " "})

    def test_set(self, write_policy, minimal_policy: str) -> None:
        """The file named is loaded."""
        path = write_policy(minimal_policy)

        policy = policy_from_environment({env.VISION_AUDIT_POLICY: str(path)})

        assert policy is not None
        assert "test" == policy.name

    def test_missing(self, tmp_path) -> None:
        """A file named but missing is an error, not silence."""
        with pytest.raises(PolicyError, match="cannot read"):
            policy_from_environment({env.VISION_AUDIT_POLICY: str(tmp_path / "x")})


def test_nesting_too_deep_is_a_policy_error(tmp_path) -> None:
    """A policy of 500 nested arrays: a PolicyError naming the file, no traceback."""
    from vision_audit.exceptions import PolicyError
    from vision_audit.policy import load_policy

    path = tmp_path / "deep.toml"
    path.write_text("version = 1\nx = " + "[" * 500 + "]" * 500 + "\n")

    with pytest.raises(PolicyError, match="nested too deeply"):
        load_policy(path)
