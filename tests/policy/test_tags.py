"""Allow lists, block lists, thresholds and caption search."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from vision_audit.policy.tags import (
    RULE_BELOW_MIN_CONFIDENCE,
    RULE_BLOCK_LIST,
    RULE_NOT_IN_ALLOW_LIST,
    TagFilter,
    TagVerdict,
    TermMatcher,
    clamp_confidence,
    normalize_term,
)

TAG_WORDS = [
    "person",
    "car",
    "wheelchair",
    "Human Face",
    "x-ray",
    "café",
    "\uff21\uff22\uff23",
]
names = st.one_of(st.sampled_from(TAG_WORDS), st.text(max_size=30))
confidences = st.floats(min_value=0.0, max_value=1.0)
tag_lists = st.lists(st.tuples(names, confidences), max_size=20)
term_sets = st.frozensets(names, max_size=6)


def _padded(name: str) -> st.SearchStrategy[str]:
    """*name* in another case, with extra whitespace around and inside it."""
    return st.sampled_from(
        [
            name.upper(),
            name.lower(),
            f"  {name}\t",
            name.replace(" ", "   "),
            f"\n{name.title()} ",
        ]
    )


class TestNormalizeTerm:
    """The one form under which names are compared."""

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("Person", "person"),
            ("  hospital \t\n bed ", "hospital bed"),
            ("\uff30\uff25\uff32\uff33\uff2f\uff2e", "person"),
            ("STRASSE", "strasse"),
            ("Straße", "strasse"),
            ("<b>Person</b>", "<b>person</b>"),
            ("", ""),
            (" \u2003 ", ""),
        ],
    )
    def test_examples(self, raw: str, expected: str) -> None:
        """Case folded, width and compatibility forms unified, whitespace collapsed."""
        assert expected == normalize_term(raw)

    @given(st.text())
    def test_idempotent(self, text: str) -> None:
        """Normalising twice changes nothing more."""
        once = normalize_term(text)

        assert once == normalize_term(once)

    @given(st.text())
    def test_no_outer_or_double_whitespace(self, text: str) -> None:
        """The result never starts or ends with whitespace, nor has two in a row."""
        normal = normalize_term(text)

        assert normal == normal.strip()
        assert "  " not in normal


class TestClampConfidence:
    """Confidences from the service are made usable."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (0.5, 0.5),
            (-1.0, 0.0),
            (3.0, 1.0),
            (math.nan, 0.0),
            (math.inf, 0.0),
            (-math.inf, 0.0),
        ],
    )
    def test_clamp(self, value: float, expected: float) -> None:
        """Finite values are kept within [0, 1]; non-finite ones count as 0."""
        assert expected == clamp_confidence(value)


class TestTagFilter:
    """Allow list or block list first, then the minimum confidence."""

    def test_block_list(self) -> None:
        """A block-listed tag is dropped, whatever its case and spacing."""
        tag_filter = TagFilter.create(block=["person", "Human Face"])

        verdicts = tag_filter(
            [("car", 0.9), ("Person", 0.97), ("human  face", 0.8), ("face", 0.7)]
        )

        assert (
            TagVerdict("car", 0.9, kept=True),
            TagVerdict("Person", 0.97, kept=False, rule=RULE_BLOCK_LIST),
            TagVerdict("human  face", 0.8, kept=False, rule=RULE_BLOCK_LIST),
            TagVerdict("face", 0.7, kept=True),
        ) == verdicts

    def test_allow_list(self) -> None:
        """With an allow list, only its tags pass; the service's spelling is kept."""
        tag_filter = TagFilter.create(allow=["shelf", "product"])

        verdicts = tag_filter([("Shelf", 0.9), ("person", 0.95)])

        assert (
            TagVerdict("Shelf", 0.9, kept=True),
            TagVerdict("person", 0.95, kept=False, rule=RULE_NOT_IN_ALLOW_LIST),
        ) == verdicts

    def test_min_confidence_after_lists(self) -> None:
        """A tag refused by a list says so, even when its confidence is low too."""
        tag_filter = TagFilter.create(block=["person"], min_confidence=0.5)

        verdicts = tag_filter([("person", 0.1), ("dent", 0.42), ("car", 0.5)])

        assert [RULE_BLOCK_LIST, RULE_BELOW_MIN_CONFIDENCE, None] == [
            v.rule for v in verdicts
        ]

    def test_both_lists_refused(self) -> None:
        """A filter has an allow list or a block list, not both."""
        with pytest.raises(ValueError, match="not both"):
            TagFilter.create(allow=["a"], block=["b"])

    @pytest.mark.parametrize("minimum", [-0.1, 1.5, math.nan])
    def test_min_confidence_range(self, minimum: float) -> None:
        """The minimum confidence lies in [0, 1]."""
        with pytest.raises(ValueError, match="between 0 and 1"):
            TagFilter(min_confidence=minimum)

    @pytest.mark.parametrize(
        "name",
        [
            "<script>alert(1)</script>",
            "person\x00\x1b[31m",
            "x" * 10_000,
            "",
            "\u202eperson",
        ],
    )
    def test_hostile_names_judged_as_given(self, name: str) -> None:
        """Markup, control characters and huge names are plain text, kept as given."""
        tag_filter = TagFilter.create(block=["person"])

        (verdict,) = tag_filter([(name, 0.9)])

        assert TagVerdict(name, 0.9, kept=True) == verdict

    def test_markup_in_block_list_matches_literally(self) -> None:
        """A block-listed name with markup matches that exact text, case aside."""
        tag_filter = TagFilter.create(block=["<b>Person</b>"])

        verdicts = tag_filter([("<B>person</B>", 0.9), ("person", 0.9)])

        assert [False, True] == [v.kept for v in verdicts]

    def test_nan_confidence_fails_minimum(self) -> None:
        """A confidence that is not a number passes no minimum and is reported as 0."""
        (verdict,) = TagFilter(min_confidence=0.1)([("car", math.nan)])

        assert TagVerdict("car", 0.0, kept=False, rule=RULE_BELOW_MIN_CONFIDENCE) == (
            verdict
        )

    @given(tags=tag_lists, block=term_sets, minimum=confidences)
    def test_block_property(
        self, tags: list[tuple[str, float]], block: frozenset[str], minimum: float
    ) -> None:
        """One verdict per tag in order; kept iff not blocked and confident enough."""
        tag_filter = TagFilter.create(block=block, min_confidence=minimum)
        blocked = {normalize_term(term) for term in block}

        verdicts = tag_filter(tags)

        assert [name for name, _ in tags] == [v.name for v in verdicts]
        for (name, confidence), verdict in zip(tags, verdicts, strict=True):
            expected_kept = (
                normalize_term(name) not in blocked and confidence >= minimum
            )
            assert expected_kept == verdict.kept
            assert (verdict.rule is None) == verdict.kept

    @given(tags=tag_lists, allow=term_sets.filter(bool), minimum=confidences)
    def test_allow_property(
        self, tags: list[tuple[str, float]], allow: frozenset[str], minimum: float
    ) -> None:
        """Every kept tag is on the allow list and at or above the minimum."""
        tag_filter = TagFilter.create(allow=allow, min_confidence=minimum)
        allowed = {normalize_term(term) for term in allow}

        verdicts = tag_filter(tags)

        for (name, confidence), verdict in zip(tags, verdicts, strict=True):
            expected_kept = normalize_term(name) in allowed and confidence >= minimum
            assert expected_kept == verdict.kept

    @given(tags=tag_lists, block=term_sets, low=confidences, high=confidences)
    def test_raising_minimum_keeps_no_more(
        self,
        tags: list[tuple[str, float]],
        block: frozenset[str],
        low: float,
        high: float,
    ) -> None:
        """A higher minimum confidence keeps a subset of what a lower one keeps."""
        low, high = sorted((low, high))
        loose = TagFilter.create(block=block, min_confidence=low)(tags)
        strict = TagFilter.create(block=block, min_confidence=high)(tags)

        for before, after in zip(loose, strict, strict=True):
            assert before.kept or not after.kept

    @given(
        data=st.data(),
        name=st.sampled_from(TAG_WORDS),
        confidence=confidences,
        use_allow=st.booleans(),
    )
    def test_case_and_whitespace_do_not_matter(
        self, data: st.DataObject, name: str, confidence: float, use_allow: bool
    ) -> None:
        """The same tag in another case or spacing gets the same verdict."""
        listed = data.draw(_padded(name))
        spelled = data.draw(_padded(name))
        tag_filter = (
            TagFilter.create(allow=[listed])
            if use_allow
            else TagFilter.create(block=[listed])
        )

        original = tag_filter.judge(name, confidence)
        variant = tag_filter.judge(spelled, confidence)

        assert (original.kept, original.rule) == (variant.kept, variant.rule)
        assert spelled == variant.name

    @given(tags=tag_lists)
    def test_no_lists_no_minimum_keeps_all(self, tags: list[tuple[str, float]]) -> None:
        """The empty filter keeps everything."""
        verdicts = TagFilter()(tags)

        assert all(v.kept for v in verdicts)


class TestTermMatcher:
    """Captions are searched for whole words, plural endings allowed."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("a man in a wheelchair in a hospital hallway", {"wheelchair", "hospital"}),
            ("Two WHEELCHAIRS parked", {"wheelchair"}),
            ("a patient in a hospital bed", {"hospital", "hospital bed"}),
            ("hospitality staff", set()),
            ("a pair of crutches", {"crutch"}),
            ("minor injuries", {"injury"}),
            ("an x-ray of a hand", {"x-ray"}),
            ("X-Rays on a lightbox", {"x-ray"}),
            ("", set()),
        ],
    )
    def test_find(self, text: str, expected: set[str]) -> None:
        """Terms of one or more words are found as whole words."""
        matcher = TermMatcher(
            ["wheelchair", "hospital", "Hospital  Bed", "crutch", "injury", "x-ray"]
        )

        assert expected == matcher.find(text)

    def test_irregular_plurals(self) -> None:
        """``men`` and ``people`` name a ``man`` and a ``person``."""
        matcher = TermMatcher(["man", "person"])

        assert {"man", "person"} == matcher.find("two men among many people")

    def test_markup_only_terms_never_match(self) -> None:
        """A term without a word in it is ignored rather than matching everything."""
        matcher = TermMatcher(["<>", "   ", "--"])

        assert not matcher
        assert frozenset() == matcher.find("<> -- anything")

    def test_hostile_text(self) -> None:
        """Control characters and 10k-character captions are searched all the same."""
        matcher = TermMatcher(["person"])
        text = "\x00\x1b[2J" + "word " * 2_000 + "<i>person</i>"

        assert {"person"} == matcher.find(text)

    @given(
        words=st.lists(st.sampled_from(["a", "car", "dog", "red"]), max_size=8),
        term=st.sampled_from(["person", "hospital bed", "wheelchair"]),
        data=st.data(),
    )
    def test_inserted_term_is_found(
        self, words: list[str], term: str, data: st.DataObject
    ) -> None:
        """A term written anywhere in a caption, in any case, is found."""
        at = data.draw(st.integers(min_value=0, max_value=len(words)))
        caption = " ".join([*words[:at], data.draw(_padded(term)), *words[at:]])

        assert term in TermMatcher([term]).find(caption)

    @given(text=st.text(), terms=term_sets)
    def test_found_terms_are_normalised_terms(
        self, text: str, terms: frozenset[str]
    ) -> None:
        """Whatever the text, only (normalised) terms of the matcher are reported."""
        assume(len(text) < 500)
        found = TermMatcher(terms).find(text)

        assert found <= {normalize_term(term) for term in terms}


class TestWordForms:
    """Possessives, hyphenated words and plurals do not hide a listed term."""

    @pytest.mark.parametrize(
        ("caption", "expected"),
        [
            ("a man's wheelchair", {"man", "wheelchair"}),
            ("a boy\N{RIGHT SINGLE QUOTATION MARK}s x-ray", {"boy", "x-ray"}),
            ("the boys' room", {"boy"}),
            ("a wheelchair-bound man", {"man", "wheelchair"}),
            ("a walking-stick by the door", {"walking stick"}),
            ("an x-ray image", {"x-ray"}),
            ("hospitality staff", set()),
        ],
    )
    def test_caption(self, caption: str, expected: set[str]) -> None:
        """Each listed term in the caption is found, and nothing else."""
        matcher = TermMatcher(["man", "boy", "wheelchair", "x-ray", "walking stick"])

        assert expected == set(matcher.find(caption))

    @pytest.mark.parametrize("name", ["men", "faces", "Human  Faces", "FACE"])
    def test_block_list_catches_plurals(self, name: str) -> None:
        """A tag in the plural of a block-listed term is blocked."""
        verdict = TagFilter.create(block=["man", "face", "human face"]).judge(name, 0.9)

        assert (False, "block-list") == (verdict.kept, verdict.rule)

    def test_allow_list_takes_names_as_they_are(self) -> None:
        """An allow list keeps exactly what it names: no plural reading there."""
        allow = TagFilter.create(allow=["glass"])

        assert allow.judge("glass", 0.9).kept
        assert not allow.judge("glasses", 0.9).kept
