"""Front doors: each client protocol parsed into the one internal request and rendered back.

Pure functions, no I/O and no Django: a door is tested by round-tripping fixtures. One package per
chat protocol (`openai_chat`, `openai_responses`, `anthropic_messages`) and a module for embeddings;
`parsed` holds what a door gives routing (`ChatInput`, `RouteControls`), `common` the checks the
OpenAI-style doors share, `wire` the JSON and server-sent-event bytes of an answer.
"""
