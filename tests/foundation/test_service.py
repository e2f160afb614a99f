"""/health, the OpenAPI document and the offline API docs."""

import pytest

pytestmark = pytest.mark.django_db


def test_health_answers_json_without_a_key(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert {"status", "service", "timestamp", "providers", "metrics"} <= set(body)
    assert body["status"] in {"healthy", "degraded", "unhealthy"}
    assert body["service"] == "ai-provider-service"


def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/health" in schema["paths"]


@pytest.mark.parametrize(
    ("page", "marker"), [("/api/docs/", "swagger-ui-bundle.js"), ("/api/redoc/", "redoc.standalone.js")]
)
def test_docs_pages_load_their_assets_locally(client, page, marker):
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    asset = next(
        part.split('"')[0] for part in html.split('src="')[1:] if part.split('"')[0].endswith(marker)
    )
    assert asset.startswith("/static/"), f"{marker} must be served locally, not from {asset}"
    assert "cdn" not in asset.lower()
    asset_response = client.get(asset)
    assert asset_response.status_code == 200
    content = b"".join(asset_response.streaming_content) if asset_response.streaming else asset_response.content
    assert len(content) > 10_000
