"""OpenAI Chat Completions <-> the internal request and result.

`request.chat_request_parse` reads a `/v1/chat/completions` body into a `ChatInput` (messages of
typed parts from `messages`, tools, tool choice and response format from `tools`, reasoning effort,
every other parameter by name, routing controls); a field it does not know is refused, never
ignored. `render` gives the pieces of OpenAI's answer shapes.
"""
