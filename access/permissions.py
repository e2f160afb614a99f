"""Who may call what. Raise the envelope errors directly, so that the answer names what is missing."""

from rest_framework.permissions import BasePermission

from access.errors import authentication_failed, permission_denied
from access.models import ApiKeyScope
from access.types import ClientKey


class HasClientKey(BasePermission):
    """The default for every API endpoint: an active client key (a staff session is not enough)."""

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ClientKey):
            return True
        raise authentication_failed(reason="missing")


class HasAnalyticsScope(BasePermission):
    """Analytics and metrics: a client key with the "analytics" scope, or a logged-in staff user's
    Django session (the admin's dashboards call these endpoints from the browser)."""

    scope = ApiKeyScope.ANALYTICS

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ClientKey):
            if self.scope in request.auth.scopes:
                return True
            raise permission_denied(
                f"This API key lacks the {self.scope!s} scope.",
                error_code="INSUFFICIENT_SCOPE",
                required_scope=str(self.scope),
            )
        user = request.user
        if user is not None and user.is_authenticated:
            if user.is_active and user.is_staff:
                return True
            raise permission_denied("Staff access is required.")
        raise authentication_failed(reason="missing")
