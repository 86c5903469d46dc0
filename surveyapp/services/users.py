"""Planner accounts: argon2 password hashes, roles, and the throttling of login attempts.

Login attempts are counted in the rate limiter's store (Redis when configured, so every app
server shares the counts) per (account name, client address) and per client address, and
counted BEFORE the password is checked: the store's atomic increment returns the new count,
so concurrent attempts can never check more passwords than the limit allows. Nothing is kept
per account alone: an attacker who exhausts an account's attempts from one address does not
lock the real planner out at another address.
"""

from __future__ import annotations

import logging

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from limits import RateLimitItem, parse
from sqlalchemy import func, select, update

from surveyapp.extensions import db, limiter
from surveyapp.models import ROLES, User, random_response_id

log = logging.getLogger(__name__)

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 12
# Verifying against a real hash when the e-mail is unknown keeps both paths equally slow,
# so response times do not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("surveyapp-timing-equaliser")


# Password checks allowed per account name and client address, and per client address (over all
# account names) before that pair or address must wait; both windows are fixed (limits' syntax).
LOGIN_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS = "5 per 15 minutes"
LOGIN_ATTEMPTS_PER_ADDRESS = "30 per hour"


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


class LoginThrottleError(RuntimeError):
    """The limiter's store (Redis) does not answer, so login attempts cannot be counted."""


def _per_account_and_address() -> RateLimitItem:
    return parse(
        current_app.config.get("LOGIN_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS")
        or LOGIN_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS
    )


def _prefix() -> str:
    """The app's key prefix in the shared store (RATELIMIT_KEY_PREFIX), as its route limits use."""
    return str(current_app.config.get("RATELIMIT_KEY_PREFIX") or "surveyapp")


def _per_address() -> RateLimitItem:
    return parse(current_app.config.get("LOGIN_ATTEMPTS_PER_ADDRESS") or LOGIN_ATTEMPTS_PER_ADDRESS)


def reserve_login_attempt(email: str, address: str) -> bool:
    """Count one login attempt of ``email`` from ``address``; False when either count is over.

    The count goes up before the password is checked (the store's increment is atomic and the
    decision is taken from the value it returns), so N simultaneous attempts check at most the
    limit of passwords. The same for known and unknown account names. Raises
    :class:`LoginThrottleError` when the store does not answer (fail closed).
    """
    if not limiter.enabled:
        return True
    account = normalise_email(email)[:254] or "-"
    try:
        strategy = limiter.limiter
        pair_ok = strategy.hit(
            _per_account_and_address(), _prefix(), "login-account-address", account, address
        )
        address_ok = strategy.hit(_per_address(), _prefix(), "login-address", address)
    except Exception as exc:  # redis errors and friends: the store is down or unreachable
        log.exception("the login throttle store does not answer")
        raise LoginThrottleError(str(exc)) from exc
    return pair_ok and address_ok


def forget_login_attempts(email: str, address: str) -> None:
    """A successful login clears that account's attempt count from that address (not others)."""
    if not limiter.enabled:
        return
    account = normalise_email(email)[:254] or "-"
    try:
        limiter.limiter.clear(
            _per_account_and_address(), _prefix(), "login-account-address", account, address
        )
    except Exception:  # not clearing only means the count runs out by itself
        log.exception("could not clear the login attempts of an account")


def count_failed_login(user_id: int) -> int:
    """Add one to the account's failed logins since its last success, atomically; the new count.

    One ``UPDATE ... RETURNING`` statement: simultaneous failures are all counted (a read and
    a write of the value would lose some). The count goes into the audit log; it locks nothing.
    """
    counted = db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return int(counted)
