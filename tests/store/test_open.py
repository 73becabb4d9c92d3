"""open_store(): store URLs as users write them."""

from __future__ import annotations

import pytest
from vision_audit.store import InMemoryAuditStore, SQLiteAuditStore, open_store
from vision_audit.store._open import redact_url


class TestOpenStore:
    """open_store() maps each URL form to its store."""

    def test_relative_sqlite(self, tmp_path, monkeypatch):
        """sqlite:///name.db is relative to the working folder."""
        monkeypatch.chdir(tmp_path)

        with open_store("sqlite:///audit.db") as store:
            assert isinstance(store, SQLiteAuditStore)

        assert (tmp_path / "audit.db").exists()

    def test_absolute_sqlite(self, tmp_path):
        """sqlite:////abs/path.db is absolute (SQLAlchemy's convention)."""
        with open_store(f"sqlite:///{tmp_path}/a%20b.db") as store:
            assert tmp_path / "a b.db" == store.path

    def test_memory(self):
        """memory:// is a new in-memory store each time."""
        with open_store("memory://") as first, open_store("memory://") as second:
            assert isinstance(first, InMemoryAuditStore)
            assert first is not second

    def test_options_in_the_query(self, tmp_path):
        """Store options may come in the query; keyword options win."""
        with open_store(
            f"sqlite:///{tmp_path}/a.db?durability=power&checkpoint_every=5",
            checkpoint_every=9,
        ) as store:
            assert ("power", 9) == (store.durability, store._checkpoint_every)  # noqa: SLF001

    @pytest.mark.parametrize(
        ("url", "problem"),
        [
            ("mysql://localhost/audit", "unsupported store URL"),
            ("audit.db", "unsupported store URL"),
            ("sqlite://audit.db", "not an SQLite store URL"),
            ("sqlite:///", "not an SQLite store URL"),
            ("memory://somewhere", "takes no location"),
            ("sqlite:///a.db?colour=blue", "unknown store option 'colour'"),
            ("sqlite:///a.db?checkpoint_every=many", "not a valid int"),
        ],
    )
    def test_refused(self, url, problem):
        """Other forms are a ValueError naming the accepted ones."""
        with pytest.raises(ValueError, match=problem):
            open_store(url)

    def test_password_never_in_messages(self):
        """A URL's password is redacted from messages."""
        assert "mysql://ada:***@db:5432/x" == redact_url("mysql://ada:s3cret@db:5432/x")
        with pytest.raises(ValueError, match="unsupported") as info:
            open_store("mysql://ada:s3cret@db/x")

        assert "s3cret" not in str(info.value)


class TestCheckpointInterval:
    """A checkpoint interval that is no number of seconds is refused at once."""

    @pytest.mark.parametrize("value", ["inf", "nan", "0", "-5", "1e12"])
    def test_refused(self, value):
        """inf, nan, zero, negatives and centuries: a ValueError naming the range."""
        with pytest.raises(ValueError, match="checkpoint_interval must be"):
            open_store(f"memory://?checkpoint_interval={value}")
