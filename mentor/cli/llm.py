"""``mentor llm ...``: inspect the configured LLM, chat with it, score candidates.

Mounted by ``mentor/cli/main.py`` as ``app.add_typer(mentor.cli.llm.app, name="llm")``.

A failure prints one line ``error: ...`` on stderr and exits 2 for bad input (a malformed spec, an
unknown backend, a missing model folder or package, a bad argument) or 1 for a failed run (the
server is unreachable or silent, the backend cannot score).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

import typer
from rich.console import Console
from rich.table import Table

from mentor.errors import LLMError, MentorError
from mentor.llm.base import LLM, make_llm
from mentor.llm.config import SPEC_FORMS

__all__ = ["app"]

app = typer.Typer(help="The LLM layer: show the model, chat with it, score continuations.", no_args_is_help=True)
console = Console()


class NormalizeChoice(StrEnum):
    """Choices of ``--normalize``."""

    sum = "sum"
    token = "token"
    word = "word"


@app.callback()
def main(
    ctx: typer.Context,
    llm: str | None = typer.Option(
        None, "--llm", help=f"LLM spec ({SPEC_FORMS}); default $MENTOR_LLM, else transformers:embedded."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Bypass the persistent response cache."),
) -> None:
    """Options shared by the llm commands."""
    ctx.ensure_object(dict)
    ctx.obj["llm_spec"] = llm
    ctx.obj["llm_cache"] = False if no_cache else None  # None: on unless $MENTOR_LLM_CACHE=0


#: Exit status of a failed run (the LLM failed); bad input exits with :data:`EXIT_BAD_INPUT`.
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


@contextmanager
def _exit_on_error() -> Iterator[None]:
    """Turn mentor's errors into one ``error: ...`` line on stderr and a non-zero exit status.

    ``SystemExit`` rather than ``typer.Exit``: ``mentor.cli.main`` runs the app with
    ``standalone_mode=False``, where click returns a ``typer.Exit`` code instead of exiting with it.
    """
    try:
        yield
    except (MentorError, ValueError) as exc:
        code = EXIT_FAILED if isinstance(exc, LLMError) else EXIT_BAD_INPUT
        typer.echo(f"{typer.style('error:', fg='red')} {' '.join(str(exc).split())}", err=True)
        raise SystemExit(code) from None


def _build(ctx: typer.Context) -> LLM:
    obj = ctx.ensure_object(dict)
    with _exit_on_error():
        return make_llm(obj.get("llm_spec"), cache=obj.get("llm_cache"))


@app.command()
def info(ctx: typer.Context) -> None:
    """Show the backend, model, parameter count, device and cache path."""
    llm = _build(ctx)
    with _exit_on_error():
        info = llm.info()
    table = Table(show_header=False)
    for key, value in info.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))
    console.print(table)


@app.command()
def chat(
    ctx: typer.Context,
    message: str = typer.Argument(..., help="The user message."),
    system: str | None = typer.Option(None, "--system", help="A system message before it."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", min=1, help="Most tokens in the reply."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0 decodes greedily."),
) -> None:
    """Print one reply to MESSAGE."""
    llm = _build(ctx)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": message}]
    with _exit_on_error():
        reply = llm.generate(messages, max_new_tokens=max_new_tokens, temperature=temperature)[0]
    console.print(reply, markup=False, highlight=False)


@app.command()
def score(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., help="The text the candidates continue."),
    candidate: list[str] = typer.Option(..., "--candidate", "-c", help="A continuation; repeat for more."),
    normalize: NormalizeChoice = typer.Option(NormalizeChoice.sum, "--normalize", help="sum, token or word."),
) -> None:
    """Print a table of the log-likelihood of each candidate after PROMPT, best first."""
    llm = _build(ctx)
    with _exit_on_error():
        scores = llm.score(prompt, candidate, normalize=normalize.value)
    table = Table("rank", "candidate", f"log-likelihood ({normalize.value})")
    for rank, (value, text) in enumerate(sorted(zip(scores, candidate), reverse=True), start=1):
        table.add_row(str(rank), repr(text), f"{value:.4f}")
    console.print(table)
