"""Password hashing is pwdlib's argon2: salted, verifiable, and a wrong password fails."""

from __future__ import annotations

from outreach.users.passwords import hash_password, verify_password


def test_hash_is_salted_argon2_and_verifies() -> None:
    first, second = hash_password("s3cret pass"), hash_password("s3cret pass")
    assert first.startswith("$argon2id$")
    assert "s3cret" not in first
    assert first != second  # a fresh salt each time
    assert verify_password("s3cret pass", first)
    assert verify_password("s3cret pass", second)
    assert not verify_password("s3cret pasS", first)
    assert not verify_password("", first)
