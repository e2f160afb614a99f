from django.urls import path

from routing.anthropic_messages import CountTokensApi, MessagesApi
from routing.apis import CompletionApi, ProviderCompletionApi, ProviderListApi
from routing.embeddings_api import EmbeddingsApi
from routing.openai_compat import ChatCompletionsApi, OpenAIModelListApi
from routing.responses_api import ResponsesApi

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
    path("messages", MessagesApi.as_view(), name="anthropic-messages"),
    path("messages/count_tokens", CountTokensApi.as_view(), name="anthropic-count-tokens"),
    path("responses", ResponsesApi.as_view(), name="openai-responses"),
    path("embeddings", EmbeddingsApi.as_view(), name="openai-embeddings"),
]
