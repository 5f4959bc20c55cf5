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


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.pipeline import Ingestor
    from rag.embed import build_embedder
    from rag.store import VectorIndex

    embedder, index = build_embedder(settings), VectorIndex(settings)
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
        print(f"failed {path}: {reason.removeprefix(Path(path).name + ': ')}", file=sys.stderr)
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
    from rag.embed import LoadingEmbedder
    from rag.llm import build_llm
    from rag.pipeline import QA
    from rag.rerank import build_reranker
    from rag.store import VectorIndex

    embedder = LoadingEmbedder(settings)  # loads while the index opens
    return QA(settings, embedder, VectorIndex(settings), llm=build_llm(settings), reranker=build_reranker(settings))


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    url = args.url or settings.url
    if url:
        from rag.eval_run import OverHTTP

        answer = OverHTTP(url, args.api_key).ask(args.question, [], args.top_k)
    else:
        answer = build_qa(settings).ask(args.question, top_k=args.top_k)
    if args.verbose:
        logging.getLogger(__name__).info("stages (ms): %s", answer.timings_ms)
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
    passages, exact = qa.lookup(args.query, args.k)
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
    from rag.embed import build_embedder
    from rag.evaluate import load_dataset
    from rag.fit import describe, fit
    from rag.pipeline import QA
    from rag.store import VectorIndex

    embedder = build_embedder(settings)
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
    if workers > 1 and not settings.answer_threads:
        # each worker process builds its own Settings: pass the share of cores down through the environment
        os.environ["POLICYQA_ANSWER_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
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


def _command(sub: Any, name: str, summary: str, description: str, examples: list[str]) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it does, then its options, then worked examples."""
    return sub.add_parser(  # type: ignore[no-any-return]
        name, help=summary, description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n" + "\n".join(f"  {e}" for e in examples)
        + "\n\nsettings come from POLICYQA_* environment variables or .env (see the README)",
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="policyqa", description="Answers with verified citations over the AI report and laws.",
        epilog="`policyqa COMMAND --help` explains a command's options, with examples.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = _command(
        sub, "ingest", "index the corpus, or the given files and folders, incrementally",
        "Index documents (PDF, TXT, MD, HTML, DOCX). Without PATH, sync the index with POLICYQA_CORPUS_DIR: new and\n"
        "changed files are indexed, removed ones dropped. Unchanged files are not embedded again. Files of other\n"
        "types are listed as skipped; the exit code is 1 when any file was skipped or could not be read.\n"
        "Progress is a bar on a terminal and plain lines when the output is piped.",
        ["policyqa ingest", "policyqa ingest ~/policies/new-rules/           # a folder, walked recursively",
         "policyqa ingest a.pdf b.docx", "policyqa ingest --rebuild                      # after changing the model or chunking"],
    )
    s.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to add or update (default: the whole corpus folder)")
    s.add_argument("--rebuild", action="store_true", help="build a new index from scratch instead of updating (needed after changing POLICYQA_CHUNK_SIZE or the model)")
    s.set_defaults(func=cmd_ingest)
    s = _command(
        sub, "documents", "list indexed documents",
        "One line per indexed document: id, type, level, adoption and in-force dates, passages, title.",
        ["policyqa documents", "policyqa documents --json | jq '.[].title'"],
    )
    s.add_argument("--json", action="store_true", help="print the full metadata as a JSON list instead of a table")
    s.set_defaults(func=cmd_documents)
    s = _command(
        sub, "ask", "answer one question with cited quotes",
        "Answer QUESTION from the indexed documents: each sentence quotes its source, with document, section or\n"
        "article, and page for PDFs; when the documents do not answer, it says so and lists the closest passages.\n"
        "Runs in this process on POLICYQA_INDEX_DIR (about 3 s on a warm disk), or asks a running server with --url.",
        ['policyqa ask "杭州的人工智能产业有什么特点？"', 'policyqa ask "What does the Data Security Law say about data classification?" --json',
         "policyqa ask --url http://127.0.0.1:8000 \"深圳有哪些优势？\"", "POLICYQA_URL=http://10.0.0.5:8000 policyqa ask -v \"数据出境需要什么手续？\""],
    )
    s.add_argument("question", metavar="QUESTION", help="the question, in Chinese or English")
    s.add_argument("--json", action="store_true", help="print the whole answer (citations, related passages, timings) as JSON")
    s.add_argument("--top-k", type=int, default=None, metavar="N", help="passages to retrieve per part of the question (default POLICYQA_TOP_K)")
    s.add_argument("--url", default="", help="ask the policyqa server at URL instead of loading the index here (default POLICYQA_URL)")
    s.add_argument("--api-key", default="", metavar="KEY", help="the API key to send with --url, when the server has POLICYQA_API_KEYS")
    s.add_argument("-v", "--verbose", action="store_true", help="log what loads and how long each stage takes to stderr")
    s.set_defaults(func=cmd_ask)
    s = _command(
        sub, "search", "find the passages that contain or come closest to a text",
        "Where does a figure or a sentence come from? Passages holding QUERY verbatim come first (marked exact,\n"
        "with their count), then the passages closest in meaning.",
        ["policyqa search 4130.27亿元", 'policyqa search "网络安全等级保护" -k 3'],
    )
    s.add_argument("query", metavar="QUERY", help="the text to look for: a figure, a phrase or a sentence")
    s.add_argument("-k", type=int, default=10, metavar="N", help="how many passages to print (default 10)")
    s.set_defaults(func=cmd_search)
    s = _command(
        sub, "eval", "measure accuracy, citations and abstention on a question set",
        "Answer every question of a JSONL set (fields as in tests/data/dev.jsonl) and score the answers, their\n"
        "citations and abstentions, overall and per category. Runs in-process, or against a server with --url.\n"
        "Exit code 1 when a --fail-under gate fails, 2 on a bad dataset.",
        ["policyqa eval", "policyqa eval tests/data/heldout.jsonl --baseline",
         "policyqa eval --url http://127.0.0.1:8000 --api-key KEY",
         "policyqa eval --json now.json --compare before.json --report report.html",
         "policyqa eval --fail-under answer_accuracy=0.9 --fail-under unsupported_number_answers=0"],
    )
    s.add_argument("dataset", nargs="?", metavar="DATASET", default=str(Path(__file__).resolve().parent.parent / "tests" / "data" / "dev.jsonl"), help="a JSONL question set (default: tests/data/dev.jsonl)")
    s.add_argument("--url", default="", help="evaluate a running server through its API instead of this process, e.g. http://127.0.0.1:8000")
    s.add_argument("--api-key", default="", metavar="KEY", help="the API key to send with --url (when the server has POLICYQA_API_KEYS)")
    s.add_argument("--json", dest="json_out", default="", metavar="PATH", help="write every answer and metric as JSON (input for a later --compare)")
    s.add_argument("--report", default="", metavar="PATH", help="write an HTML report with each question, answer and verdict")
    s.add_argument("--compare", default="", metavar="PREV.json", help="list the questions whose verdict changed since an earlier --json run")
    s.add_argument("--baseline", action="store_true", help="also score the rule-free sentence baseline on the same index, side by side")
    s.add_argument("--fail-under", action="append", default=[], metavar="METRIC=VALUE", help="exit 1 when METRIC is below VALUE (counts such as unsupported_number_answers: above it); repeatable")
    s.set_defaults(func=cmd_eval)
    s = _command(
        sub, "fit", "fit the evidence and confidence weights on public question sets",
        "Refit the logistic evidence scorer and the abstention model on one or more question sets, each answered\n"
        "over its own corpus (indexed on its own), and print every weight. Copy the result to rag/data/weights.json.",
        ["policyqa fit tests/data/dev.jsonl", "policyqa fit tests/data/dev.jsonl ../shared/eval/rgb-dev/questions.jsonl=../shared/eval/rgb-dev/corpus"],
    )
    s.add_argument("sets", nargs="+", metavar="DATASET[=CORPUS_DIR]", help="a JSONL question set, optionally with the folder of documents it is answered from (default: POLICYQA_CORPUS_DIR)")
    s.set_defaults(func=cmd_fit)
    s = _command(
        sub, "bench", "print latency, throughput, ingest and scale figures against a baseline",
        "Benchmark on a throw-away index in a temp folder: ingest, in-process latency per stage, HTTP load with\n"
        "1/4/16 clients, and retrieval at scale on synthetic chunks; each figure beside a baseline.",
        ["policyqa bench", "policyqa bench --quick", "policyqa bench --scale 10000 100000 1000000 --json bench.json",
         "policyqa bench --quick --scale 1000000 --chroma-server    # the cost per question at 1M chunks on a Chroma server"],
    )
    s.add_argument("--quick", action="store_true", help="fewer repeats, 5 s load levels, scale 2,000 and 10,000 chunks (~8 min instead of ~11)")
    s.add_argument("--scale", type=int, nargs="*", default=[10000, 100000], metavar="N", help="synthetic index sizes in chunks for the scale section (default: 10000 100000)")
    s.add_argument("--chroma-server", action="store_true", help="run the scale section against a `chroma run` server over HTTP (the store of a multi-worker deployment) instead of embedded Chroma")
    s.add_argument("--json", default="", metavar="PATH", help="also write every figure as JSON")
    s.set_defaults(func=cmd_bench)
    s = _command(
        sub, "serve", "run the HTTP service",
        "Serve the API, the web page (/) and the API docs (/docs, /redoc, offline). On an empty index the corpus is\n"
        "indexed first, in the background: /readyz and the page show the progress. Keys, limits and the trusted\n"
        "proxy come from POLICYQA_API_KEYS, POLICYQA_RATE_LIMIT_PER_MINUTE and POLICYQA_FORWARDED_ALLOW_IPS.",
        ["policyqa serve", "policyqa serve --port 8080",
         "POLICYQA_API_KEYS=k1,k2 policyqa serve --host 0.0.0.0 --workers 2"],
    )
    s.add_argument("--host", default="", help="address to listen on (default POLICYQA_HOST, 127.0.0.1); 0.0.0.0 exposes it to the network")
    s.add_argument("--port", type=int, default=0, help="port to listen on (default POLICYQA_PORT, 8000)")
    s.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes, each with its own model and index in memory; the cores are split between them (default 1)")
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    quiet = args.command == "ask" and not args.verbose  # an answer on stdout, nothing else unless asked
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        settings = load_settings()
        return int(args.func(args, settings) or 0)
    except PolicyQAError as exc:
        print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
