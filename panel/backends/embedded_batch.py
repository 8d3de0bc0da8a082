"""Several chat requests decoded together in one llama.cpp context, one sequence each.

The four personas of a panel ask at once. Decoding them one after the other runs a 135M model
one token at a time, which leaves most of the machine idle (the weights are read once per
token whatever the batch holds). Here every step decodes one token of every running sequence
in one `llama_decode` call, and each sequence samples from its own logits with its own sampler
chain: its persona's grammar, sampling options and seed, exactly the chain llama-cpp-python's
`create_chat_completion` builds. A request that arrives while others decode joins at the next
step (continuous batching); a finished one frees its slot.

One worker thread owns the context; callers wait on a `concurrent.futures.Future`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from panel.backends import ChatReply

if TYPE_CHECKING:
    from panel.backends.embedded import LoadedModel

# Tokens of KV cache per sequence: a persona's prompt (about 1,000 tokens), its reply and a
# retry's feedback fit; a longer conversation goes through the one-at-a-time path instead.
SEQUENCE_CONTEXT = 4096
PENALTY_LAST_N = 64  # llama-cpp-python's default last_n_tokens_size


@dataclass
class Completion:
    """What one sequence produced, in create_chat_completion's terms."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    prompt_ms: float
    eval_ms: float
    total_ms: float


@dataclass
class Sequence:
    """One request in the batch: its tokens so far and its own sampler chain."""

    prompt: list[int]
    sampling: dict[str, Any]
    grammar: Any
    max_tokens: int
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    seq_id: int = -1
    sampler: Any = None
    n_past: int = 0
    generated: list[int] = field(default_factory=list)
    cancelled: bool = False  # its caller stopped waiting: drop it at the next step
    submitted: float = field(default_factory=time.perf_counter)
    prompt_ms: float = 0.0
    decode_started: float = 0.0


def build_sampler(llama: Any, grammar: Any, sampling: dict[str, Any]) -> Any:
    """The chain Llama._init_sampler builds for create_chat_completion, with this request's seed."""
    from llama_cpp import _internals

    sampler = _internals.LlamaSampler()
    sampler.add_penalties(
        n_vocab=llama.n_vocab(),
        penalty_last_n=PENALTY_LAST_N,
        penalty_repeat=sampling["repeat_penalty"],
        penalty_freq=0.0,
        penalty_present=0.0,
    )
    if grammar is not None:
        sampler.add_grammar(llama._model, grammar)
    seed = sampling.get("seed", 0xFFFFFFFF)
    temperature = sampling["temperature"]
    if temperature < 0:
        sampler.add_dist(seed)
    elif temperature == 0:
        sampler.add_greedy()
    else:
        sampler.add_top_k(sampling["top_k"])
        sampler.add_typical(1.0, 1)
        sampler.add_top_p(sampling["top_p"], 1)
        sampler.add_min_p(sampling["min_p"], 1)
        sampler.add_temp(temperature)
        sampler.add_dist(seed)
    return sampler


class BatchDecoder:
    """A second llama.cpp context on a loaded model, with `slots` sequences decoded together."""

    def __init__(self, llama: Any, slots: int, n_threads: int, n_threads_batch: int) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self.llama = llama
        self.slots = slots
        self.sequence_context = min(SEQUENCE_CONTEXT, int(llama.n_ctx()))
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.sequence_context * slots
        params.n_batch = params.n_ubatch = 512
        params.n_seq_max = slots
        params.kv_unified = False  # each sequence its own cells: faster when prompts differ
        params.n_threads = n_threads
        params.n_threads_batch = n_threads_batch
        self.context = _internals.LlamaContext(model=llama._model, params=params, verbose=False)
        self.n_batch = int(params.n_batch)
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self.vocab = llama._model.vocab
        self.inbox: queue.Queue[Sequence | None] = queue.Queue()
        self.thread = threading.Thread(target=self.run, name="llama-batch", daemon=True)
        self.thread.start()

    def fits(self, prompt_tokens: int, max_tokens: int) -> bool:
        return prompt_tokens + max_tokens <= self.sequence_context

    def submit(self, prompt: list[int], sampling: dict[str, Any], grammar: Any, max_tokens: int) -> Sequence:
        sequence = Sequence(prompt=prompt, sampling=sampling, grammar=grammar, max_tokens=max_tokens)
        self.inbox.put(sequence)
        return sequence

    def close(self) -> None:
        import llama_cpp

        if self.thread.is_alive():
            self.inbox.put(None)
            self.thread.join()
        llama_cpp.llama_batch_free(self.batch)
        self.context.close()

    # -- the worker thread --------------------------------------------------------------------

    def run(self) -> None:
        running: dict[int, Sequence] = {}
        while True:
            while len(running) < self.slots:
                try:
                    sequence = self.inbox.get(block=not running)
                except queue.Empty:
                    break
                if sequence is None:
                    for left in running.values():
                        self.finish(left, "cancelled", running)
                    return
                if not sequence.cancelled and sequence.future.set_running_or_notify_cancel():
                    self.start(sequence, running)
            if running:
                self.step(running)

    def free_id(self, running: dict[int, Sequence]) -> int:
        return next(seq_id for seq_id in range(self.slots) if seq_id not in running)

    def fill(self, tokens: list[int], positions: list[int], seq_ids: list[int], logits: list[bool]) -> None:
        batch = self.batch
        batch.n_tokens = len(tokens)
        for index, (token, position, seq_id, wanted) in enumerate(zip(tokens, positions, seq_ids, logits)):
            batch.token[index] = token
            batch.pos[index] = position
            batch.n_seq_id[index] = 1
            batch.seq_id[index][0] = seq_id
            batch.logits[index] = wanted

    def decode(self) -> None:
        import llama_cpp

        status = llama_cpp.llama_decode(self.context.ctx, self.batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")

    def start(self, sequence: Sequence, running: dict[int, Sequence]) -> None:
        """Evaluate the prompt in its own sequence, then sample its first token."""
        started = time.perf_counter()
        sequence.seq_id = self.free_id(running)
        running[sequence.seq_id] = sequence
        try:
            sequence.sampler = build_sampler(self.llama, sequence.grammar, sequence.sampling)
            prompt = sequence.prompt
            for offset in range(0, len(prompt), self.n_batch):
                chunk = prompt[offset : offset + self.n_batch]
                last = offset + len(chunk) == len(prompt)
                self.fill(
                    chunk,
                    list(range(offset, offset + len(chunk))),
                    [sequence.seq_id] * len(chunk),
                    [last and index == len(chunk) - 1 for index in range(len(chunk))],
                )
                self.decode()
            sequence.n_past = len(prompt)
            sequence.prompt_ms = (time.perf_counter() - started) * 1000
            sequence.decode_started = time.perf_counter()
            self.accept(sequence, sequence.sampler.sample(self.context, len(chunk) - 1), running)
        except Exception as error:  # a failed sequence must not stop the others
            self.fail(sequence, error, running)

    def step(self, running: dict[int, Sequence]) -> None:
        """One token for every running sequence, in one decode."""
        order = list(running.values())
        self.fill(
            [sequence.generated[-1] for sequence in order],
            [sequence.n_past for sequence in order],
            [sequence.seq_id for sequence in order],
            [True] * len(order),
        )
        try:
            self.decode()
        except RuntimeError as error:
            for sequence in order:
                self.fail(sequence, error, running)
            return
        for index, sequence in enumerate(order):
            sequence.n_past += 1
            if sequence.cancelled:
                self.finish(sequence, "cancelled", running)
                continue
            self.accept(sequence, sequence.sampler.sample(self.context, index), running)

    def accept(self, sequence: Sequence, token: int, running: dict[int, Sequence]) -> None:
        import llama_cpp

        if llama_cpp.llama_vocab_is_eog(self.vocab, token):
            self.finish(sequence, "stop", running)
            return
        sequence.generated.append(token)
        if len(sequence.generated) >= sequence.max_tokens or sequence.n_past + 1 >= self.sequence_context:
            self.finish(sequence, "length", running)

    def release(self, sequence: Sequence, running: dict[int, Sequence]) -> None:
        import llama_cpp

        running.pop(sequence.seq_id, None)
        llama_cpp.llama_memory_seq_rm(self.context.memory, sequence.seq_id, -1, -1)
        if sequence.sampler is not None:
            sequence.sampler.close()
            sequence.sampler = None

    def finish(self, sequence: Sequence, reason: str, running: dict[int, Sequence]) -> None:
        self.release(sequence, running)
        if reason == "cancelled" or sequence.future.done():
            return
        now = time.perf_counter()
        text = self.llama.detokenize(sequence.generated).decode("utf-8", errors="ignore")
        sequence.future.set_result(
            Completion(
                text=text,
                finish_reason=reason,
                prompt_tokens=len(sequence.prompt),
                completion_tokens=len(sequence.generated),
                prompt_ms=round(sequence.prompt_ms, 3),
                eval_ms=round((now - sequence.decode_started) * 1000, 3),
                total_ms=round((now - sequence.submitted) * 1000, 3),
            )
        )

    def fail(self, sequence: Sequence, error: Exception, running: dict[int, Sequence]) -> None:
        self.release(sequence, running)
        if not sequence.future.done():
            sequence.future.set_exception(error)


def chat_prompt(llama: Any, messages: list[dict[str, str]]) -> list[int] | None:
    """The prompt tokens create_chat_completion would evaluate, from the GGUF's own chat
    template; None when the model has none (those calls take the one-at-a-time path)."""
    from llama_cpp import llama_chat_format

    template = llama.metadata.get("tokenizer.chat_template")
    if not template or llama.chat_format != "chat_template.default" or llama.chat_handler is not None:
        return None
    eos, bos = llama.token_eos(), llama.token_bos()
    formatter = llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
        stop_token_ids=[eos],
    )
    result = formatter(messages=messages)
    return llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)


def decoder_for(model: LoadedModel, slots: int) -> BatchDecoder:
    """The model's batch decoder, made on first use; call with model.lock held."""
    if model.decoder is None:
        model.decoder = BatchDecoder(model.llama, slots, model.n_threads_batch, model.n_threads_batch)
    return model.decoder


def submit(
    model: LoadedModel,
    slots: int,
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    options: dict[str, Any],
) -> Sequence | None:
    """Queue one chat for the batch decoder; None when it must take the one-at-a-time path
    (no chat template in the GGUF, or a conversation longer than a sequence's context)."""
    from panel.backends.embedded import grammar_for, sampling_arguments

    with model.lock:
        prompt = chat_prompt(model.llama, messages)
        if prompt is None:
            return None
        decoder = decoder_for(model, slots)
        arguments = sampling_arguments(options)
        max_tokens = arguments.pop("max_tokens", None) or decoder.sequence_context - len(prompt)
        if not decoder.fits(len(prompt), max_tokens):
            return None
        return decoder.submit(prompt, arguments, grammar_for(model, schema), max_tokens)


async def complete_together(
    model: LoadedModel,
    slots: int,
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    options: dict[str, Any],
) -> ChatReply | None:
    """One chat decoded alongside whatever else is in flight; None as for `submit`."""
    sequence = await asyncio.to_thread(submit, model, slots, messages, schema, options)
    if sequence is None:
        return None
    try:
        completion = await asyncio.wrap_future(sequence.future)
    except asyncio.CancelledError:
        sequence.cancelled = True
        raise
    return ChatReply(
        content=completion.text,
        done_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        durations_ms={
            "total": completion.total_ms,
            "prompt_eval": completion.prompt_ms,
            "eval": completion.eval_ms,
        },
    )
