"""Option resolution: keyword, then environment, then default; errors name the fix."""

from __future__ import annotations

import pytest
from vision_audit._settings import convert_bool, resolve_settings
from vision_audit.exceptions import PolicyError


class _Store:
    def append(self, event):  # pragma: no cover - not called
        raise NotImplementedError

    def iter_events(self, *, since=None, until=None):  # pragma: no cover
        return iter(())

    def close(self) -> None:  # pragma: no cover
        pass


def _resolve(environ, **kwargs):
    options = {
        "store": _Store(),
        "audit_failure": None,
        "capture_content": None,
        "people_threshold": None,
        "tracer_provider": None,
        "logger_provider": None,
    }
    options.update(kwargs)
    return resolve_settings(environ=environ, **options)


class TestResolveSettings:
    """Each setting's precedence and validation."""

    def test_defaults(self) -> None:
        """Fail closed, no content, people at 0.5."""
        settings = _resolve({})

        assert ("raise", False, 0.5) == (
            settings.audit_failure,
            settings.capture_content,
            settings.people_threshold,
        )

    def test_environment(self) -> None:
        """The environment sets what keywords leave unset."""
        settings = _resolve(
            {"VISION_AUDIT_AUDIT_FAILURE": "LOG", "VISION_AUDIT_CAPTURE_CONTENT": "yes"}
        )

        assert ("log", True) == (settings.audit_failure, settings.capture_content)

    def test_keyword_wins(self) -> None:
        """An explicit keyword beats the environment."""
        settings = _resolve(
            {
                "VISION_AUDIT_AUDIT_FAILURE": "log",
                "VISION_AUDIT_CAPTURE_CONTENT": "true",
            },
            audit_failure="raise",
            capture_content=False,
        )

        assert ("raise", False) == (settings.audit_failure, settings.capture_content)

    @pytest.mark.parametrize(
        ("environ", "kwargs", "message"),
        [
            (
                {"VISION_AUDIT_AUDIT_FAILURE": "ignore"},
                {},
                "VISION_AUDIT_AUDIT_FAILURE must be",
            ),
            (
                {"VISION_AUDIT_CAPTURE_CONTENT": "maybe"},
                {},
                "VISION_AUDIT_CAPTURE_CONTENT",
            ),
            (
                {},
                {"people_threshold": 1.5},
                "people_threshold must be a number between",
            ),
            ({}, {"people_threshold": "high"}, "people_threshold must be a number"),
            ({}, {"people_threshold": "nan"}, "people_threshold must be a number"),
            ({}, {"capture_content": "flase"}, "capture_content must be one of"),
            (
                {"VISION_AUDIT_BAGGAGE": "nope"},
                {},
                "VISION_AUDIT_BAGGAGE must be one of",
            ),
        ],
    )
    def test_bad_values(self, environ, kwargs, message) -> None:
        """A bad value is refused with the setting's name."""
        with pytest.raises(ValueError, match=message):
            _resolve(environ, **kwargs)

    def test_keyword_text(self) -> None:
        """``capture_content="false"`` means false; a threshold may come as text."""
        settings = _resolve({}, capture_content="false", people_threshold="0.7")

        assert (False, 0.7) == (settings.capture_content, settings.people_threshold)

    @pytest.mark.parametrize(
        "kwargs", [{"capture_content": 1}, {"people_threshold": True}]
    )
    def test_keyword_types(self, kwargs) -> None:
        """A keyword of a type no setting takes is refused, named."""
        with pytest.raises(TypeError, match=next(iter(kwargs))):
            _resolve({}, **kwargs)

    def test_bad_value_opens_no_store(self, tmp_path) -> None:
        """Values are checked before the store is opened: no file is made."""
        url = f"sqlite:///{tmp_path / 'audit.db'}"

        with pytest.raises(ValueError, match="VISION_AUDIT_AUDIT_FAILURE"):
            _resolve({"VISION_AUDIT_AUDIT_FAILURE": "rasie"}, store=url)

        assert [] == list(tmp_path.iterdir())

    def test_policy_variable_named(self, tmp_path) -> None:
        """A missing policy file named by the environment names the variable."""
        with pytest.raises(PolicyError, match=r"^VISION_AUDIT_POLICY: "):
            _resolve({"VISION_AUDIT_POLICY": str(tmp_path / "missing.toml")})


class TestConvertBool:
    """The accepted spellings of a boolean."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("TRUE", True), (" 1 ", True), ("off", False), ("", False)],
    )
    def test_spellings(self, text: str, expected: bool) -> None:
        """Case and surrounding spaces do not matter."""
        assert expected is convert_bool(text, name="X")


class TestOnePeopleThreshold:
    """The policy's people_threshold decides; a disagreeing keyword is refused."""

    @staticmethod
    def _policy(tmp_path, threshold):
        path = tmp_path / "policy.toml"
        path.write_text(
            '[policy]\nname = "p"\nversion = "1"\n\n'
            f"[sensitive]\npeople_threshold = {threshold}\n\n"
            '[purposes.claims]\nfeatures = ["tags", "people"]\n'
        )
        return str(path)

    def test_policy_decides(self, tmp_path) -> None:
        """Without the keyword, the facts count people as the flag does."""
        settings = _resolve({}, policy=self._policy(tmp_path, 0.8))

        assert 0.8 == settings.people_threshold

    def test_same_value_accepted(self, tmp_path) -> None:
        """The keyword may repeat the policy's value."""
        policy = self._policy(tmp_path, 0.8)

        assert 0.8 == _resolve({}, policy=policy, people_threshold=0.8).people_threshold

    def test_disagreement_refused(self, tmp_path) -> None:
        """Another value is refused, naming both and the fix."""
        policy = self._policy(tmp_path, 0.8)

        with pytest.raises(ValueError, match=r"people_threshold=0.6 disagrees.*0.8"):
            _resolve({}, policy=policy, people_threshold=0.6)
