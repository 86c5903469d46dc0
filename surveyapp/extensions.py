"""Flask extensions, created unbound here and bound to the app in ``create_app()``."""

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from surveyapp import crypto

# A naming convention makes constraint names deterministic, so Alembic migrations are
# stable across SQLite and PostgreSQL and can drop/alter constraints by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base carrying the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
babel = Babel()


# Rate-limit counters live in Redis, readable by whoever reads Redis: their keys are HMACs under
# a key of their own (surveyapp.crypto), so they name no address, token or token hash, and
# cannot be matched to ``access_tokens`` or to a log line.
def address_rate_key() -> str:
    """The client's address, keyed: one counter per address without the address in the store."""
    return crypto.keys().rate_limit_key("address:" + get_remote_address())


def token_rate_key() -> str:
    """A personal link's token, keyed (never its SHA-256, which ``access_tokens`` stores)."""
    token = request.view_args.get("token", "") if request.view_args else ""
    return crypto.keys().rate_limit_key("token:" + str(token))


# Storage comes from RATELIMIT_STORAGE_URI: memory for the embedded default, Redis in production
# (limits must be shared by every app server). Limits are set per route, none by default. When
# Redis does not answer, RATELIMIT_IN_MEMORY_FALLBACK_ENABLED (config.py) counts the same route
# limits in memory: the extension logs one warning and keeps checking Redis, returning to it.
limiter = Limiter(key_func=address_rate_key, default_limits=[])
