"""The native completion API's fast input check never disagrees with its serializer: whatever it
accepts, the serializer accepts too, with the same validated data (everything else goes to the
serializer, whose errors the client sees)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.completion_input import CompletionInputSerializer, completion_input_fast

# Mostly valid requests with edge cases mixed in, so that every rule of the check is exercised.
edge_texts = st.sampled_from(["", " ", "hi", " padded", "padded ", "a\x00b", "gpt-4o-mini", "x" * 300, "é"])
texts = st.one_of(edge_texts, st.text(max_size=12))
numbers = st.one_of(
    st.sampled_from([0, 1, 2, 0.5, 1.0, 2.5, -1, True, False, "0.5", None, 4000, 10**6]),
    st.floats(-1, 3, allow_nan=False), st.integers(-2, 10),
)
valid_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "developer"]), "content": st.sampled_from(["Hello", " x "])}
)
messages = st.lists(
    st.one_of(
        valid_message, valid_message, valid_message,
        st.fixed_dictionaries({"role": st.sampled_from(["user", "tool", ""]), "content": texts}),
        st.dictionaries(st.sampled_from(["role", "content", "name"]), texts, max_size=3),
        texts,
    ),
    max_size=3,
)
field_values = {
    "model": texts,
    "temperature": numbers,
    "max_tokens": numbers,
    "top_p": numbers,
    "stop": st.one_of(texts, st.lists(texts, max_size=6), st.none(), numbers),
    "user": st.one_of(texts, st.none(), numbers),
    "provider": st.one_of(texts, st.none(), numbers),
    "stream": st.one_of(st.booleans(), st.sampled_from(["true", 1, 0, None])),
    "extra": texts,
}
bodies = st.fixed_dictionaries({"messages": messages}, optional=field_values)


@settings(max_examples=1500, deadline=None)
@given(bodies)
def test_what_the_fast_check_accepts_the_serializer_accepts_identically(body):
    fast = completion_input_fast(body)
    if fast is None:
        return
    serializer = CompletionInputSerializer(data=body)
    assert serializer.is_valid(), (body, serializer.errors)
    assert fast == serializer.validated_data


def test_a_plain_request_takes_the_fast_path():
    body = {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 20, "stop": "END"}
    assert completion_input_fast(body) == {
        "messages": [{"role": "user", "content": "Hello"}], "model": "gpt-3.5-turbo", "temperature": 0.7,
        "max_tokens": 20, "provider": None, "stream": False, "stop": ["END"],
    }
    assert completion_input_fast({**body, "temperature": "0.5"}) is None  # the serializer decides
