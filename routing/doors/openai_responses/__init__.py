"""OpenAI Responses API (`POST /v1/responses`) <-> the internal request and result. Pure functions.

`request.responses_request_parse` reads a Responses body into the same `ChatInput` the Chat
Completions door produces (so routing, translation, caching and accounting are shared), plus what
the Response object echoes back (`ResponsesInput`); `items` reads the `input` items and `tools` the
tools, tool choice and text format. `render.response_render` turns a `CompletionResult` into a
Response object; `stream.ResponseStreamRenderer` turns the stream's chunks into the Responses event
sequence (`response.created` ... `response.completed`).

The gateway is stateless: `previous_response_id`, `store: true`, `conversation` and item references
are refused with a 400 naming the parameter, as are OpenAI's built-in tools (web search, file
search, computer use, ...), which only OpenAI runs. Field names and shapes follow the official
`openai` SDK's `openai.types.responses` types.
"""
