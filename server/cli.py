"""The `policyqa` command: ingest, documents, ask, search, eval, bench, serve."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from rag.errors import PolicyQAError
from rag.settings import Settings, load_settings


def _components(settings: Settings, need_index: bool = True):  # type: ignore[no-untyped-def]
    from rag.embed import SentenceTransformerEmbedder
    from rag.store import VectorIndex

    return SentenceTransformerEmbedder(settings), VectorIndex(settings)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.pipeline import Ingestor

    embedder, index = _components(settings)
    progress = _ProgressBar() if sys.stderr.isatty() else _progress_lines()
    paths = [Path(p) for p in args.paths] or None
    try:
        report = Ingestor(settings, embedder, index).run(paths, rebuild=args.rebuild, progress=progress)
    finally:
        if isinstance(progress, _ProgressBar):
            progress.close()
    print(
        f"documents: {report.documents}  pages: {report.pages}  chunks: {report.chunks}  "
        f"added: {len(report.added)}  updated: {len(report.updated)}  removed: {len(report.removed)}  "
        f"unchanged: {len(report.unchanged)}  seconds: {report.seconds:.1f}  version: {report.version}"
    )
    for path, reason in report.skipped.items():
        print(f"skipped {path}: {reason}", file=sys.stderr)
    for path, reason in report.failed.items():
        print(f"failed {path}: {reason}", file=sys.stderr)
    if report.skipped or report.failed:
        print(f"not indexed: {len(report.skipped)} skipped, {len(report.failed)} failed", file=sys.stderr)
        return 1
    return 0


def _progress_lines():  # type: ignore[no-untyped-def]
    """Piped: plain progress lines on stderr, every 10% or 10 s."""
    from ingest.pipeline import ProgressLog

    return ProgressLog(lambda line: print(line, file=sys.stderr, flush=True), step=10, every=10.0)


class _ProgressBar:
    """On a terminal: a tqdm bar per stage (files read, then passages and sentences embedded, with an ETA)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.stage = ""

    def __call__(self, p: Any) -> None:
        from tqdm import tqdm

        if p.stage != self.stage:
            self.close()
            self.stage = p.stage
            if p.stage == "reading":
                self.bar = tqdm(total=p.files_total, desc="reading", unit="file", file=sys.stderr)
            elif p.stage == "embedding":
                self.bar = tqdm(total=p.total, desc="embedding", unit="text", file=sys.stderr)
            else:
                print(p.describe(), file=sys.stderr)
        if self.bar is None:
            return
        if p.stage == "reading":
            self.bar.set_postfix_str(p.file[:40], refresh=False)
            self.bar.update(p.files_done - self.bar.n)
        else:
            self.bar.set_postfix_str(f"documents {p.files_done}/{p.files_total}, passages {p.chunks_done}/{p.chunks_total}", refresh=False)
            self.bar.update(p.done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            if self.stage == "reading":
                self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()
            self.bar = None


def cmd_documents(args: argparse.Namespace, settings: Settings) -> int:
    from rag.store import VectorIndex

    docs = VectorIndex(settings).open().documents()
    if args.json:
        print(json.dumps([d.model_dump() for d in docs], ensure_ascii=False, indent=2))
        return 0
    for d in docs:
        print(f"{d.id:52} {d.type:10} {d.level:10} {d.adopted:10} {d.in_force:10} {d.chunks:4} chunks  {d.title}")
    return 0


def build_qa(settings: Settings):  # type: ignore[no-untyped-def]
    from rag.llm import build_llm
    from rag.pipeline import QA
    from rag.rerank import build_reranker

    embedder, index = _components(settings)
    return QA(settings, embedder, index, llm=build_llm(settings), reranker=build_reranker(settings))


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    qa = build_qa(settings)
    answer = qa.ask(args.question, top_k=args.top_k)
    if args.json:
        print(answer.model_dump_json(indent=2))
        return 0
    print(answer.answer)
    print()
    for c in answer.citations:
        page = f"，第{c.page}页" if c.page else ""
        print(f"[{c.n}] 《{c.title}》 {c.section}{page}\n    “{c.quote}”")
    for r in answer.related:
        print(f"相关：《{r.title}》 {r.section}：{r.text[:80]}…")
    return 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    qa = build_qa(settings)
    passages = qa.search(args.query, args.k)
    exact = qa.count_exact(args.query)
    print(f"{exact} passages contain {args.query!r}" if exact else f"no passage contains {args.query!r}; related passages:")
    for p in passages:
        mark = "exact  " if p.exact else f"{p.score:.4f} "
        print(f"{mark} 《{p.title}》 {p.chunk.location()}  {p.chunk.text[:100]!r}")
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from rag.eval_run import main as eval_main

    return eval_main(args, settings, None if args.url else build_qa(settings))


def cmd_fit(args: argparse.Namespace, settings: Settings) -> int:
    """Fit the evidence and confidence weights on DATASET[=CORPUS_DIR] pairs (each corpus indexed on its own)."""
    from ingest.pipeline import Ingestor
    from rag.evaluate import load_dataset
    from rag.fit import describe, fit
    from rag.pipeline import QA
    from rag.store import VectorIndex

    embedder, _ = _components(settings)
    sets = []
    for spec in args.sets:
        dataset, _, corpus = spec.partition("=")
        local = settings
        if corpus:
            name = Path(corpus).resolve().parent.name or "corpus"
            local = settings.model_copy(update={"corpus_dir": Path(corpus), "index_dir": settings.index_dir.parent / f"index-{name}"})
        index = VectorIndex(local)
        Ingestor(local, embedder, index).run()
        rows, errors = load_dataset(Path(dataset))
        for e in errors:
            print(f"bad row: {e}", file=sys.stderr)
        sets.append((QA(local, embedder, index), rows))
    print(describe(fit(sets)))
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from server.bench import main as bench_main

    return bench_main(args, settings)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    host = args.host or settings.host
    if not settings.api_keys and host not in {"127.0.0.1", "localhost", "::1"}:
        logging.getLogger(__name__).warning("no API keys are set: binding to %s exposes the service without keys", host)
    workers = max(1, args.workers)
    if workers > 1 and not settings.torch_threads:
        # each worker process builds its own Settings: pass the share of cores down through the environment
        os.environ["POLICYQA_TORCH_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    app: Any = "server.app:create_app"  # each worker process builds its own app and settings
    if workers == 1:
        from server.app import create_app

        app = create_app(settings)  # one process: the settings read (and checked) above
    uvicorn.run(
        app, factory=workers > 1, host=host, port=args.port or settings.port, workers=workers,
        # the rate limit keys on the client address: take it from X-Forwarded-For only when a trusted proxy sends it
        proxy_headers=bool(settings.forwarded_allow_ips), forwarded_allow_ips=settings.forwarded_allow_ips or None,
    )
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="policyqa", description="Answers with verified citations over the AI report and laws.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("ingest", help="index the corpus (or the given files) incrementally")
    s.add_argument("paths", nargs="*")
    s.add_argument("--rebuild", action="store_true", help="rebuild from scratch (after changing model or chunking)")
    s.set_defaults(func=cmd_ingest)
    s = sub.add_parser("documents", help="list indexed documents")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_documents)
    s = sub.add_parser("ask", help="ask a question")
    s.add_argument("question")
    s.add_argument("--json", action="store_true")
    s.add_argument("--top-k", type=int, default=None)
    s.set_defaults(func=cmd_ask)
    s = sub.add_parser("search", help="find the passages that contain or come closest to a text")
    s.add_argument("query")
    s.add_argument("-k", type=int, default=10)
    s.set_defaults(func=cmd_search)
    s = sub.add_parser("eval", help="measure accuracy, citations and abstention on a question set")
    s.add_argument("dataset", nargs="?", default=str(Path(__file__).resolve().parent.parent / "tests" / "data" / "dev.jsonl"))
    s.add_argument("--url", default="")
    s.add_argument("--api-key", default="")
    s.add_argument("--json", dest="json_out", default="")
    s.add_argument("--report", default="")
    s.add_argument("--compare", default="")
    s.add_argument("--baseline", action="store_true")
    s.add_argument("--fail-under", action="append", default=[], metavar="METRIC=VALUE")
    s.set_defaults(func=cmd_eval)
    s = sub.add_parser("fit", help="fit the evidence and confidence weights on public question sets")
    s.add_argument("sets", nargs="+", metavar="DATASET[=CORPUS_DIR]")
    s.set_defaults(func=cmd_fit)
    s = sub.add_parser("bench", help="print latency, throughput, ingest and scale figures against a baseline")
    s.add_argument("--quick", action="store_true")
    s.add_argument("--scale", type=int, nargs="*", default=[10000, 100000])
    s.add_argument("--json", default="", metavar="PATH", help="also write every figure as JSON")
    s.set_defaults(func=cmd_bench)
    s = sub.add_parser("serve", help="run the HTTP service")
    s.add_argument("--host", default="")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        settings = load_settings()
        return int(args.func(args, settings) or 0)
    except PolicyQAError as exc:
        print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
