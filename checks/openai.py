"""OpenAI answers end to end: a real embeddings call with the vector size the columns expect."""

from nyxops.errors import ProviderError
from nyxops.providers.openai_embed import OpenAIEmbedder
from nyxops.verify import CheckResult, Context, failed, passed, skipped, unavailable

NAME = "openai"
TIMEOUT = 60


def run(ctx: Context) -> CheckResult:
    targets = [t for t in ctx.settings.embedding_targets if t.provider == "openai"]
    if not targets:
        return skipped("no embedding target uses OpenAI")
    if ctx.settings.openai_api_key is None:
        return failed("OPENAI_API_KEY is not set: the app cannot embed new insights")
    problems, figures = [], {}
    for model in sorted({t.model for t in targets}):
        try:
            quick = ctx.settings.model_copy(update={"openai_max_retries": min(ctx.settings.openai_max_retries, 2)})
            matrix = OpenAIEmbedder(quick, model).embed(["nyxops verify"])
        except ProviderError as exc:
            return unavailable(str(exc))
        figures[model] = int(matrix.shape[1])
        for t in targets:
            if t.model == model and t.dimension != matrix.shape[1]:
                problems.append(f"{model} returns {matrix.shape[1]} dimensions, {t.name} expects {t.dimension}")
    if problems:
        return failed("; ".join(problems), **figures)
    return passed("embeddings answered with the expected dimension", **figures)
