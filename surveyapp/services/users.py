"""Planner accounts: argon2 password hashes, roles."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select

from surveyapp.extensions import db
from surveyapp.models import ROLES, User, random_response_id

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 12
# Verifying against a real hash when the e-mail is unknown keeps both paths equally slow,
# so response times do not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("surveyapp-timing-equaliser")


class UserError(ValueError):
    """An account that cannot be created or changed as asked."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(email: str, password: str, role: str) -> User:
    email = normalise_email(email)
    if role not in ROLES:
        raise UserError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    if "@" not in email or len(email) > 254:
        raise UserError(f"{email!r} is not an e-mail address")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    exists = db.session.execute(
        select(func.count()).select_from(User).where(User.email == email)
    ).scalar_one()
    if exists:
        raise UserError(f"an account for {email} already exists")
    user = User(email=email, password_hash=_hasher.hash(password), role=role, active=True)
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None (same cost either way)."""
    user = db.session.execute(select(User).where(User.email == normalise_email(email))).scalar_one_or_none()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def set_password(user: User, password: str) -> None:
    """Change a password; every existing session of the account ends (the nonce rotates)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = _hasher.hash(password)
    user.session_nonce = random_response_id()
    user.failed_logins = 0
    user.locked_until = None
