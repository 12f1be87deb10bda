"""Password hashing with a kept library (pwdlib, argon2id with its recommended
parameters); nothing here is home-made cryptography."""

from __future__ import annotations

from functools import lru_cache

from pwdlib import PasswordHash


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, hashed: str) -> bool:
    return _hasher().verify(password, hashed)


@lru_cache(maxsize=1)
def _dummy() -> str:
    return hash_password("not anyone's password")


def burn_verify(password: str) -> None:
    """The work of a verification for a name nobody has, so that the time a refusal takes
    does not tell whether the user exists."""
    _hasher().verify(password, _dummy())
