"""The API documentation pages (Swagger UI, Redoc): every asset from this server, nothing from outside.

The assets come from drf-spectacular-sidecar; the Redoc template (templates/drf_spectacular/redoc.html)
drops the Google Fonts links and keeps Redoc's credits logo off cdn.redoc.ly. A Content-Security-Policy
makes it a rule for the browser as well: a page that tried to load anything from another origin
(a future Redoc release, a schema's image) is refused by the browser rather than leaking the visit.
"""

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

# Scripts and styles inline or from here (the UIs ship inline bootstrap code); Redoc's search runs in
# a blob: worker. Nothing may be fetched from another origin.
DOCS_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    )
)


class _LocalOnly:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response


class SwaggerDocsView(_LocalOnly, SpectacularSwaggerView):
    pass


class RedocDocsView(_LocalOnly, SpectacularRedocView):
    pass
