"""The application's health URL answers 2xx."""

import httpx

from nyxops.verify import CheckResult, Context, passed, skipped, unavailable

NAME = "app"
TIMEOUT = 20


def run(ctx: Context) -> CheckResult:
    if not ctx.app_url:
        return skipped("no app health URL (set NYXOPS_APP_HEALTH_URL, or NYXOPS_HOST for the tunnel)")
    try:
        answer = httpx.get(ctx.app_url, timeout=10)
    except httpx.HTTPError as exc:
        return unavailable(f"{ctx.app_url} unreachable: {exc.__class__.__name__}")
    figures = {"status": answer.status_code, "ms": round(answer.elapsed.total_seconds() * 1000, 1)}
    if not answer.is_success:
        return unavailable(f"{ctx.app_url} answered {answer.status_code}", **figures)
    return passed(f"{ctx.app_url} answered {answer.status_code}", **figures)
