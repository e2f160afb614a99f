from django.urls import path

from routing.apis import CompletionApi, ProviderCompletionApi, ProviderListApi
from routing.openai_compat import ChatCompletionsApi, OpenAIModelListApi

api_urlpatterns = [
    path("completion", CompletionApi.as_view(), name="completion"),
    path("providers", ProviderListApi.as_view(), name="provider-list"),
    path(
        "providers/<slug:provider_name>/completion",
        ProviderCompletionApi.as_view(),
        name="provider-completion",
    ),
]

openai_urlpatterns = [
    path("chat/completions", ChatCompletionsApi.as_view(), name="openai-chat-completions"),
    path("models", OpenAIModelListApi.as_view(), name="openai-models"),
]
