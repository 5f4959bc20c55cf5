"""`policyqa eval`: run a question set against the pipeline (in-process or over HTTP), print and save reports."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import httpx

from rag.errors import RemoteError
from rag.evaluate import check_gates, compare, html_report, load_dataset, parse_gates, report, run, table
from rag.settings import Settings
from rag.types import Answer


class InProcess:
    """The pipeline in this process."""

    def __init__(self, qa: Any) -> None:
        self.qa = qa

    def ask(self, question: str, history: list[str]) -> Answer:
        return self.qa.ask(question, history=history)

    def retrieve(self, question: str, k: int) -> list[str]:
        return [p.chunk.text for p in self.qa.lookup(question, k)[0]]

    def document_text(self, doc_id: str) -> str:
        return self.qa.document_text(doc_id)


class OverHTTP:
    """A running `policyqa serve`, through its public API; its refusals become RemoteError with its message."""

    def __init__(self, url: str, api_key: str = "") -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url
        self.client = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=120)
        self._texts: dict[str, str] = {}

    def ask(self, question: str, history: list[str], top_k: int | None = None) -> Answer:
        """One question (`/v1/ask`), or the last turn of a conversation (`/v1/chat`)."""
        if not history:
            return Answer.model_validate(self._post("/v1/ask", {"question": question, "top_k": top_k}))
        messages = []
        for turn in history:
            messages += [{"role": "user", "content": turn}, {"role": "assistant", "content": "…"}]
        messages.append({"role": "user", "content": question})
        return Answer.model_validate(self._post("/v1/chat", {"messages": messages, "top_k": top_k}))

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self._request("POST", path, json={k: v for k, v in body.items() if v is not None})

    def _request(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = self.client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise RemoteError(f"cannot reach {self.url}: {exc}") from exc
        if r.status_code != 200:
            json_body = r.headers.get("content-type", "").startswith("application/json")
            detail = (r.json().get("message") if json_body else None) or r.text[:200]
            raise RemoteError(f"{self.url} answered {r.status_code}: {detail}")
        return r.json()

    def retrieve(self, question: str, k: int) -> list[str]:
        return [hit["text"] for hit in self._request("GET", "/v1/search", params={"q": question[:2000], "k": k})["results"]]

    def document_text(self, doc_id: str) -> str:
        if doc_id not in self._texts:
            r = self.client.get(f"/v1/documents/{doc_id}/text")
            self._texts[doc_id] = r.json().get("text", "") if r.status_code == 200 else ""
        return self._texts[doc_id]


class Baseline(InProcess):
    """The rule-free sentence baseline over the same index (retrieval lists are the pipeline's own)."""

    def __init__(self, qa: Any) -> None:
        from rag.baseline import SentenceBaseline

        super().__init__(qa)
        self.base = SentenceBaseline(qa)

    def ask(self, question: str, history: list[str]) -> Answer:
        return self.base.ask(question)


def main(args: argparse.Namespace, settings: Settings, qa: Any = None) -> int:
    """Run the evaluation; the exit code is 1 when a --fail-under gate fails, 2 on bad input."""
    from tqdm import tqdm

    rows, errors = load_dataset(Path(args.dataset))
    for e in errors:
        print(f"bad row: {e}", file=sys.stderr)
    if not rows:
        print("no usable rows", file=sys.stderr)
        return 2
    gates = parse_gates(args.fail_under)
    if args.url:
        target: Any = OverHTTP(args.url, args.api_key)
    else:
        if qa is None:
            print("no pipeline given", file=sys.stderr)
            return 2
        target = InProcess(qa)
    bar = tqdm(total=len(rows), desc="eval", file=sys.stderr, leave=False)
    results = run(rows, target, lambda i, n: bar.update(1))
    bar.close()
    data: dict[str, Any] = {"dataset": str(args.dataset), "metrics": report(results), "results": results, "bad_rows": errors}
    print(table(data["metrics"], "policyqa"))
    if args.baseline:
        if qa is None:
            print("--baseline needs the in-process pipeline (no --url)", file=sys.stderr)
            return 2
        base_results = run(rows, Baseline(qa))
        data["baseline"] = {"metrics": report(base_results), "results": base_results}
        print()
        print(table(data["baseline"]["metrics"], "rule-free baseline (every sentence by BM25 + e5, RRF, top 3; never abstains)"))
    if args.compare:
        print("\nchanges against", args.compare)
        for line in compare(data, json.loads(Path(args.compare).read_text(encoding="utf-8"))) or ["no change"]:
            print("  " + line)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.report:
        Path(args.report).write_text(html_report(data), encoding="utf-8")
    failures = check_gates(data["metrics"]["overall"], gates)
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    return 1 if failures else 0
