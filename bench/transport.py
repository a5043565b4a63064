"""The live path's transport: 40 answers of 500 vectors (4 MB each) through the openai client, on
urllib3 (nyxops' transport) against httpx's own, from one thread, the fake provider in its own process."""

from __future__ import annotations

import time

import httpx2
import openai

from bench.common import Comparison, alternate, provider_process
from nyxops.providers import answer
from nyxops.providers.transport import UrllibTransport

REQUESTS, INPUTS = 40, 500


def _answers(client: openai.OpenAI) -> float:
    texts = [f"Bench {i}" for i in range(INPUTS)]
    body = {"model": "text-embedding-3-small", "input": texts, "encoding_format": "base64"}
    started = time.perf_counter()
    for _ in range(REQUESTS):
        response = client.post("/embeddings", cast_to=httpx2.Response, body=body)
        answer.decode(response.content, INPUTS, "bench")
    return time.perf_counter() - started


def run(rounds: int) -> list[Comparison]:
    with provider_process() as url:
        ours = openai.OpenAI(
            api_key="bench", base_url=url + "/v1", http_client=openai.DefaultHttpxClient(transport=UrllibTransport())
        )
        theirs = openai.OpenAI(api_key="bench", base_url=url + "/v1", http_client=openai.DefaultHttpxClient())
        _answers(theirs)  # the fake provider computes each vector once, then answers from memory
        mine, other = alternate(rounds, lambda: _answers(ours), lambda: _answers(theirs))
    name = f"{REQUESTS} answers of {INPUTS} vectors through the openai client, urllib3 transport"
    return [Comparison(name, mine, other, "httpx's own transport", "faster", speedup=True)]
