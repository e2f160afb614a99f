"""Edge input is answered with a 4xx in the envelope, never a 500."""

import pytest
from asgiref.sync import sync_to_async

from access.services import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)

TOO_MANY = "&".join(f"p{i}=1" for i in range(1100))


@pytest.mark.parametrize("path", ["/health", "/api/v1/models", "/v1/models", "/api/v1/analytics/costs"])
async def test_more_query_parameters_than_allowed_is_a_400(async_client, path):
    _, secret = await sync_to_async(api_key_create)(name="edges", scopes=["analytics"])
    response = await async_client.get(f"{path}?{TOO_MANY}", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 400
    assert "query parameters" in response.content.decode()


@pytest.mark.parametrize(
    "query", ["from=0001-01-01", "to=0001-01-01", "from=0001-01-01&to=0001-01-05", "to=9999-12-31"]
)
async def test_far_dates_in_the_costs_api_are_a_400(async_client, query):
    _, secret = await sync_to_async(api_key_create)(name="edges", scopes=["analytics"])
    response = await async_client.get(
        f"/api/v1/analytics/costs?{query}", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert "2000-01-01" in response.json()["error"]
