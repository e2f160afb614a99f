from django.urls import path

from providers.apis import ModelListApi

urlpatterns = [
    path("models", ModelListApi.as_view(), name="model-list"),
]
