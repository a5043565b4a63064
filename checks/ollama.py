"""Ollama answers end to end: version, the configured models present and fitting in memory, a real chat."""

from nyxops.errors import ProviderError
from nyxops.providers.ollama_client import OllamaClient
from nyxops.verify import CheckResult, Context, failed, passed

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
        return failed(str(exc))
    limit = settings.ollama_memory_limit_gb
    problems = []
    for model in settings.ollama_models:
        if model.name not in present:
            if model.role != "optional":
                problems.append(f"{model.role} model {model.name} not pulled")
            continue
        need = max(model.size_gb, present[model.name] / GB)
        if need > limit:
            problems.append(f"{model.name} needs about {need:.1f} GB, more than the {limit:g} GB memory limit")
    figures: dict[str, object] = {"version": version, "models": sorted(present)}
    if problems:
        return failed("; ".join(problems), **figures)
    default = settings.default_model.name
    try:
        answer = client.chat("Reply with one word: ok", model=default)
    except ProviderError as exc:
        return failed(str(exc), **figures)
    figures.update(latency_s=round(answer.seconds, 2), tokens=answer.tokens, tokens_per_s=answer.tokens_per_second)
    if not answer.text.strip():
        return failed(f"{default} answered with empty text", **figures)
    rate = f", {answer.tokens_per_second:.1f} tokens/s" if answer.tokens_per_second else ""
    return passed(f"{default} answered in {answer.seconds:.2f}s{rate}", **figures)
