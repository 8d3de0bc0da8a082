"""Sampling one sequence of a batch: the persona's sampling chain and its grammar, grammar last.

llama-cpp-python's chain runs the grammar over the whole vocabulary (49,152 tokens for SmolLM2)
before every token, which costs about as much as decoding the token. llama.cpp's own server and
examples (common_sampler) sample first and ask the grammar only about the chosen token; only
when the grammar refuses it is the whole vocabulary filtered and the token sampled again. Every
reply still matches the grammar, and the same seed still gives the same reply.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

PENALTY_LAST_N = 64  # llama-cpp-python's default last_n_tokens_size


def sampling_chain(llama: Any, sampling: dict[str, Any]) -> Any:
    """The chain Llama._init_sampler builds for create_chat_completion, less the grammar."""
    from llama_cpp import _internals

    chain = _internals.LlamaSampler()
    chain.add_penalties(
        n_vocab=llama.n_vocab(),
        penalty_last_n=PENALTY_LAST_N,
        penalty_repeat=sampling["repeat_penalty"],
        penalty_freq=0.0,
        penalty_present=0.0,
    )
    seed = sampling.get("seed", 0xFFFFFFFF)
    temperature = sampling["temperature"]
    if temperature < 0:
        chain.add_dist(seed)
    elif temperature == 0:
        chain.add_greedy()
    else:
        chain.add_top_k(sampling["top_k"])
        chain.add_typical(1.0, 1)
        chain.add_top_p(sampling["top_p"], 1)
        chain.add_min_p(sampling["min_p"], 1)
        chain.add_temp(temperature)
        chain.add_dist(seed)
    return chain


class GrammarCheckedSampler:
    """Sample with the chain, then let the grammar veto; resample under the grammar if it does."""

    def __init__(self, llama: Any, grammar: Any, sampling: dict[str, Any]) -> None:
        import llama_cpp
        import numpy

        self.llama_cpp = llama_cpp
        self.chain = sampling_chain(llama, sampling)
        self.grammar = None
        if grammar is not None:
            self.grammar = llama_cpp.llama_sampler_init_grammar(
                llama._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
            )
        self.n_vocab = llama.n_vocab()
        self.ids = numpy.arange(self.n_vocab, dtype=numpy.intc)
        self.buffer = (llama_cpp.llama_token_data * self.n_vocab)()
        self.view = numpy.ctypeslib.as_array(self.buffer).view(
            numpy.dtype([("id", numpy.intc), ("logit", numpy.single), ("p", numpy.single)], align=True)
        )
        self.candidates = llama_cpp.llama_token_data_array(
            data=ctypes.cast(self.buffer, llama_cpp.llama_token_data_p),
            size=self.n_vocab,
            selected=-1,
            sorted=False,
        )
        self.one = (llama_cpp.llama_token_data * 1)()
        self.one_candidate = llama_cpp.llama_token_data_array(
            data=ctypes.cast(self.one, llama_cpp.llama_token_data_p), size=1, selected=-1, sorted=False
        )

    def fill(self, context: Any, index: int) -> None:
        import numpy

        logits = self.llama_cpp.llama_get_logits_ith(context.ctx, index)
        self.view["id"] = self.ids
        self.view["logit"] = numpy.ctypeslib.as_array(logits, shape=(self.n_vocab,))
        self.view["p"] = 0.0
        self.candidates.data = ctypes.cast(self.buffer, self.llama_cpp.llama_token_data_p)
        self.candidates.size, self.candidates.selected, self.candidates.sorted = self.n_vocab, -1, False

    def chosen(self) -> int:
        return int(self.candidates.data[self.candidates.selected].id)

    def grammar_allows(self, token: int) -> bool:
        self.one[0].id, self.one[0].logit, self.one[0].p = token, 0.0, 0.0
        self.one_candidate.size, self.one_candidate.selected, self.one_candidate.sorted = 1, -1, False
        self.llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(self.one_candidate))
        return not math.isinf(self.one[0].logit)

    def sample(self, context: Any, index: int) -> int:
        """The next token from the logits at `index` of the last decoded batch."""
        apply = self.llama_cpp.llama_sampler_apply
        self.fill(context, index)
        apply(self.chain.sampler, ctypes.byref(self.candidates))
        token = self.chosen()
        if self.grammar is not None and not self.grammar_allows(token):
            self.fill(context, index)
            apply(self.grammar, ctypes.byref(self.candidates))
            apply(self.chain.sampler, ctypes.byref(self.candidates))
            token = self.chosen()
        if self.grammar is not None:
            self.llama_cpp.llama_sampler_accept(self.grammar, token)
        self.chain.accept(token)
        return token

    def close(self) -> None:
        self.chain.close()
        if self.grammar is not None:
            self.llama_cpp.llama_sampler_free(self.grammar)
            self.grammar = None
