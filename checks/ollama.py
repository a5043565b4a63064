"""Ollama answers end to end: version, the configured models present and fitting in memory, a real chat.

Fitting means weights, KV cache at the configured context and parallelism, and the runner: what the deploy counted.
"""

from nyxops.config import gib
from nyxops.errors import ProviderError
from nyxops.providers.ollama_client import OllamaClient
from nyxops.verify import CheckResult, Context, failed, passed, unavailable

NAME = "ollama"
TIMEOUT = 120
GB = 1_000_000_000


def run(ctx: Context) -> CheckResult:
    settings = ctx.settings
    client = OllamaClient(settings, base_url=ctx.ollama_url)
    client.attempts = 2
    try:
        version = client.version()
        present = client.models()
    except ProviderError as exc:
        return unavailable(str(exc))
    limit = settings.memory_limit_bytes
    problems = []
    for model in settings.ollama_models:
        if model.name not in present:
            if model.role != "optional":
                problems.append(f"{model.role} model {model.name} not pulled")
            continue
        listed = model.model_copy(update={"size_gb": max(model.size_gb, present[model.name] / GB)})
        need, why = settings.model_need(listed)
        if need > limit:
            problems.append(f"{model.name} needs {why}, more than the {gib(limit)} memory limit")
    figures: dict[str, object] = {"version": version, "models": sorted(present)}
    if problems:
        return failed("; ".join(problems), **figures)
    default = settings.default_model.name
    try:
        answer = client.chat("Reply with one word: ok", model=default)
    except ProviderError as exc:
        return unavailable(str(exc), **figures)
    figures.update(latency_s=round(answer.seconds, 2), tokens=answer.tokens, tokens_per_s=answer.tokens_per_second)
    if not answer.text.strip():
        return failed(f"{default} answered with empty text", **figures)
    rate = f", {answer.tokens_per_second:.1f} tokens/s" if answer.tokens_per_second else ""
    return passed(f"{default} answered in {answer.seconds:.2f}s{rate}", **figures)
