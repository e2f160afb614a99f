"""Anthropic Messages <-> the internal request and result.

`request.messages_request_parse` reads a `/v1/messages` (or `/v1/messages/count_tokens`) body into
a `MessagesInput`: the translation every provider can take (system, content blocks, `tool_use` /
`tool_result`, images and thinking as internal messages from `blocks`; tools, tool choice, thinking
and output config from `tools`) plus the body itself for Anthropic (`native`: passed through
unchanged, `cache_control`, `metadata`, beta fields and all), with what only Anthropic can carry
named in `native["requires"]`. A field or block type it does not know is refused, in Anthropic's
wording (`validation`), never ignored. `tokens` estimates a request's input tokens.

`render.messages_response_render` and `stream.MessagesStreamRenderer` turn the answer back into a
Messages response and Anthropic's event sequence; an answer Anthropic gave to its own protocol is
returned as Anthropic sent it.
"""
