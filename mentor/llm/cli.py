"""``mentor llm ...``: inspect the configured LLM, chat with it, score candidates.

Mounted by ``mentor/cli.py`` as ``app.add_typer(mentor.llm.cli.app, name="llm")``.
"""

from __future__ import annotations

from enum import StrEnum

import typer
from rich.console import Console
from rich.table import Table

from mentor.errors import MentorError
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


def _build(ctx: typer.Context) -> LLM:
    obj = ctx.ensure_object(dict)
    try:
        return make_llm(obj.get("llm_spec"), cache=obj.get("llm_cache"))
    except MentorError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


@app.command()
def info(ctx: typer.Context) -> None:
    """Show the backend, model, parameter count, device and cache path."""
    llm = _build(ctx)
    table = Table(show_header=False)
    for key, value in llm.info().items():
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
    try:
        reply = llm.generate(messages, max_new_tokens=max_new_tokens, temperature=temperature)[0]
    except MentorError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
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
    try:
        scores = llm.score(prompt, candidate, normalize=normalize.value)
    except MentorError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    table = Table("rank", "candidate", f"log-likelihood ({normalize.value})")
    for rank, (value, text) in enumerate(sorted(zip(scores, candidate), reverse=True), start=1):
        table.add_row(str(rank), repr(text), f"{value:.4f}")
    console.print(table)
