"""Several chat requests decoded together: one sequence each, in a few llama.cpp contexts.

The four personas of a panel ask at once. The one-at-a-time path decodes them one after the
other on one thread. Here each core gets a worker thread with its own single-threaded context
(a `BatchDecoder`), and the requests are spread over them. A worker decodes one token of each of
its sequences per `llama_decode` call, and each sequence samples from its own logits with its
own sampler chain: its persona's grammar, sampling options and seed, the chain
llama-cpp-python's `create_chat_completion` builds. A request that arrives while others decode
joins at the next step (continuous batching); a finished one frees its slot.

Why single-threaded contexts side by side rather than one context on every core: llama.cpp's
threads wait for each other on spinning barriers after every operation, and on a busy 2-core
machine that makes a 2-thread decode 20-40x slower than a 1-thread one (measured with
bench/embedded_panels.py); independent workers never wait for each other. Sampling (the
grammar over the whole vocabulary) costs about as much as the decode itself, and it runs in
the worker too, in parallel across workers (ctypes releases the GIL).

Callers wait on a `concurrent.futures.Future`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from panel.backends import ChatReply
from panel.backends.llama_sampling import GrammarCheckedSampler

if TYPE_CHECKING:
    from panel.backends.embedded import LoadedModel

# Tokens of KV cache per sequence: a persona's prompt (about 1,000 tokens), its reply and a
# retry's feedback fit; a longer conversation goes through the one-at-a-time path instead.
SEQUENCE_CONTEXT = 4096


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


class BatchDecoder:
    """A second llama.cpp context on a loaded model, with `slots` sequences decoded together."""

    def __init__(self, llama: Any, slots: int, n_threads: int = 1, n_threads_batch: int = 1) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self.llama = llama
        self.slots = slots
        self.sequence_context = min(SEQUENCE_CONTEXT, int(llama.n_ctx()))
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.sequence_context * slots
        params.n_batch = params.n_ubatch = 512
        params.n_seq_max = slots
        # Cells per sequence rather than one pool: attention then skips the other sequences'
        # cells, measured 15-30% faster per step than a unified cache with the prefix kept once.
        params.kv_unified = False
        params.n_threads = n_threads
        params.n_threads_batch = n_threads_batch
        self.context = _internals.LlamaContext(model=llama._model, params=params, verbose=False)
        self.n_batch = int(params.n_batch)
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self.vocab = llama._model.vocab
        self.inbox: queue.Queue[Sequence | None] = queue.Queue()
        self.assigned = 0  # sequences submitted and not finished: how busy this worker is
        self.assigned_lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self.run, name="llama-batch", daemon=True)
        self.thread.start()

    def fits(self, prompt_tokens: int, max_tokens: int) -> bool:
        return prompt_tokens + max_tokens <= self.sequence_context

    def count(self, change: int) -> None:
        with self.assigned_lock:
            self.assigned += change

    def submit(self, prompt: list[int], sampling: dict[str, Any], grammar: Any, max_tokens: int) -> Sequence:
        sequence = Sequence(prompt=prompt, sampling=sampling, grammar=grammar, max_tokens=max_tokens)
        self.count(+1)
        self.inbox.put(sequence)
        return sequence

    def close(self) -> None:
        import llama_cpp

        if self.thread.is_alive():
            self.stopping = True
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
                    break
                if not sequence.cancelled and sequence.future.set_running_or_notify_cancel():
                    self.start(sequence, running)
                else:
                    self.count(-1)
            if self.stopping:
                for left in list(running.values()):
                    self.fail(left, RuntimeError("the embedded model was closed"), running)
                return
            if running:
                self.step(running)

    def free_id(self, running: dict[int, Sequence]) -> int:
        return next(seq_id for seq_id in range(self.slots) if seq_id not in running)

    def fill(self, tokens: list[int], positions: list[int], seq_ids: list[int], logits: list[bool]) -> None:
        batch = self.batch
        batch.n_tokens = len(tokens)
        for index, (token, position, seq_id, wanted) in enumerate(
            zip(tokens, positions, seq_ids, logits, strict=True)
        ):
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

    def share_prefix(self, sequence: Sequence, running: dict[int, Sequence]) -> int:
        """Copy the longest prompt prefix a running sequence already holds (the persona prompts
        share their instructions and the card) into this sequence; return its length."""
        import llama_cpp

        best, donor = 0, None
        for other in running.values():
            if other is sequence or other.n_past == 0:
                continue
            shared = 0
            for mine, theirs in zip(sequence.prompt, other.prompt, strict=False):
                if mine != theirs:
                    break
                shared += 1
            if shared > best:
                best, donor = shared, other
        best = min(best, len(sequence.prompt) - 1)  # the last token is evaluated for its logits
        if donor is None or best <= 0:
            return 0
        # Each sequence has its own cells (see __init__), so the donor's state is copied whole and
        # what is not shared dropped: a few MB of memcpy against hundreds of tokens to evaluate.
        size = llama_cpp.llama_state_seq_get_size(self.context.ctx, donor.seq_id)
        state = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(self.context.ctx, state, size, donor.seq_id)
        if not llama_cpp.llama_state_seq_set_data(self.context.ctx, state, written, sequence.seq_id):
            return 0
        llama_cpp.llama_memory_seq_rm(self.context.memory, sequence.seq_id, best, -1)
        return best

    def start(self, sequence: Sequence, running: dict[int, Sequence]) -> None:
        """Evaluate the prompt (less a shared prefix) in its own sequence, then sample its first token."""
        started = time.perf_counter()
        sequence.seq_id = self.free_id(running)
        running[sequence.seq_id] = sequence
        try:
            sequence.sampler = GrammarCheckedSampler(self.llama, sequence.grammar, sequence.sampling)
            prompt = sequence.prompt
            start = self.share_prefix(sequence, running)
            for offset in range(start, len(prompt), self.n_batch):
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

        self.count(-1)
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


class DecoderGroup:
    """One BatchDecoder per core; a new request goes to the least busy one."""

    def __init__(self, llama: Any, slots: int, workers: int) -> None:
        workers = max(1, min(workers, slots))
        per_worker = -(-slots // workers)
        self.decoders = [BatchDecoder(llama, per_worker) for _ in range(workers)]
        self.sequence_context = self.decoders[0].sequence_context
        self.lock = threading.Lock()

    def fits(self, prompt_tokens: int, max_tokens: int) -> bool:
        return self.decoders[0].fits(prompt_tokens, max_tokens)

    def submit(self, prompt: list[int], sampling: dict[str, Any], grammar: Any, max_tokens: int) -> Sequence:
        with self.lock:  # two submits at once must not both pick the same idle worker
            decoder = min(self.decoders, key=lambda candidate: candidate.assigned)
            return decoder.submit(prompt, sampling, grammar, max_tokens)

    def close(self) -> None:
        for decoder in self.decoders:
            decoder.close()


def decoder_for(model: LoadedModel, slots: int) -> DecoderGroup:
    """The model's decoders, made on first use; call with model.lock held."""
    if model.decoder is None:
        model.decoder = DecoderGroup(model.llama, slots, model.n_threads_batch)
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
    from panel.backends.llama_requests import grammar_for, sampling_arguments

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
