"""Domain errors: a rule of the domain said no. http_errors.py turns them into HTTP answers."""

from __future__ import annotations

from collections.abc import Mapping

from scheduler.i18n import N_


class DomainError(Exception):
    """A rule of the domain said no. Carries a stable code, a message id and per-field message ids."""

    status = 400
    code = "invalid"
    default_message = N_("The request could not be processed.")

    def __init__(self, message: str | None = None, *, fields: Mapping[str, str] | None = None,
                 params: Mapping[str, object] | None = None, extra: Mapping[str, object] | None = None):
        self.message = message or self.default_message
        self.fields = dict(fields or {})
        self.params = dict(params or {})
        self.extra = dict(extra or {})
        super().__init__(self.message % self.params if self.params else self.message)


class ValidationFailed(DomainError):
    status, code = 422, "validation"
    default_message = N_("Please check the marked fields.")


class NotFound(DomainError):
    status, code = 404, "not-found"
    default_message = N_("Nothing was found for this link or reference.")


class InvalidTransition(DomainError):
    status, code = 409, "invalid-transition"
    default_message = N_("This was already changed by someone else. Please reload.")


class SlotTaken(DomainError):
    status, code = 409, "slot-taken"
    default_message = N_("This time was just taken. Please choose another one.")


class Forbidden(DomainError):
    status, code = 403, "forbidden"
    default_message = N_("You are not allowed to do this.")


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"
    default_message = N_("Please sign in.")


class TooManyRequests(DomainError):
    status, code = 429, "rate-limited"
    default_message = N_("Too many attempts. Please wait a moment and try again.")


class ServiceUnavailable(DomainError):
    status, code = 503, "unavailable"
    default_message = N_("The service is busy. Please try again in a moment.")
