"""Ingest into real Chroma with the real model: incremental, atomic, refuses mismatched settings."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from rag.errors import IndexMismatch, IndexWriteError
from rag.retrieve import Retriever
from rag.store import VectorIndex
from tests.conftest import CORPUS, PDFS


def ingest(settings, embedder, paths=None, **kw):  # type: ignore[no-untyped-def]
    return Ingestor(settings, embedder, VectorIndex(settings)).run(paths, **kw)


def snapshot(settings):  # type: ignore[no-untyped-def]
    version = VectorIndex(settings).open()
    return version.name, {d.id: d for d in version.documents()}, version.chunks()


def test_incremental_ingest_skips_replaces_and_removes(make_settings, embedder, small_corpus: Path) -> None:
    settings = make_settings(corpus_dir=small_corpus)
    first = ingest(settings, embedder)
    assert sorted(first.added) == ["2016-cybersecurity-law", "2021-algorithmic-recommendation-provisions", "2021-data-security-law"]
    v1, docs1, chunks1 = snapshot(settings)

    again = ingest(settings, embedder)
    assert not again.changed and len(again.unchanged) == 3
    assert snapshot(settings)[0] == v1  # nothing changed, no new version

    law = small_corpus / "2021-data-security-law.md"
    law.write_text(law.read_text(encoding="utf-8").replace("本法自2021年9月1日起施行", "本法自2099年1月1日起施行"), encoding="utf-8")
    (small_corpus / "2016-cybersecurity-law.md").unlink()
    changed = ingest(settings, embedder)
    assert changed.updated == ["2021-data-security-law"] and changed.removed == ["2016-cybersecurity-law"]
    v2, docs2, chunks2 = snapshot(settings)
    assert v2 != v1 and sorted(docs2) == ["2021-algorithmic-recommendation-provisions", "2021-data-security-law"]
    texts = [c.text for c in chunks2 if c.doc_id == "2021-data-security-law"]
    assert any("2099年1月1日" in t for t in texts) and not any("2021年9月1日起施行" in t for t in texts)
    unchanged_ids = lambda chunks: {c.id for c in chunks if c.doc_id == "2021-algorithmic-recommendation-provisions"}  # noqa: E731
    assert unchanged_ids(chunks1) == unchanged_ids(chunks2)
    assert not any(c.doc_id == "2016-cybersecurity-law" for c in chunks2)
    assert len(chunks2) == sum(d.chunks for d in docs2.values())


def test_a_failed_build_leaves_the_previous_index_answering(make_settings, embedder, small_corpus: Path) -> None:
    settings = make_settings(corpus_dir=small_corpus)
    ingest(settings, embedder)
    before = snapshot(settings)
    (small_corpus / "new.md").write_text("# 新规定\n\n第一条 本规定自2030年1月1日起施行。\n\n第二条 其他。\n\n第三条 附则。", encoding="utf-8")

    def boom() -> None:
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        ingest(settings, embedder, on_before_publish=boom)
    after = snapshot(settings)
    assert after[0] == before[0] and sorted(after[1]) == sorted(before[1])
    assert VectorIndex(settings).versions() == [before[0]]  # the half-built version is gone
    retriever = Retriever(VectorIndex(settings).open(), embedder)
    assert retriever.search("数据安全法什么时候施行", 3)[0].chunk.article == "第五十五条"


def test_bad_files_are_reported_and_the_rest_indexed(make_settings, embedder, small_corpus: Path) -> None:
    (small_corpus / "broken.pdf").write_bytes(b"%PDF-1.7 garbage")
    (small_corpus / "empty.txt").write_bytes(b"")
    report = ingest(make_settings(corpus_dir=small_corpus), embedder)
    assert len(report.added) == 3
    assert set(map(lambda p: Path(p).name, report.failed)) == {"broken.pdf", "empty.txt"}
    assert "corrupt" in report.failed[str(small_corpus / "broken.pdf")]


def test_opening_with_other_chunking_is_a_clear_error(make_settings, embedder, small_corpus: Path) -> None:
    settings = make_settings(corpus_dir=small_corpus)
    ingest(settings, embedder)
    other = settings.model_copy(update={"chunk_size": 300})
    with pytest.raises(IndexMismatch, match=r"chunk_size: index has 480, settings ask 300.*--rebuild"):
        ingest(other, embedder)
    assert ingest(other, embedder, rebuild=True).chunks > 0


def test_read_only_index_directory_is_a_clear_error(make_settings, embedder, small_corpus: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores permissions: a file where the index folder should be is just as unwritable
        blocked = tmp_path / "blocked"
        blocked.write_text("not a folder")
        settings = make_settings(corpus_dir=small_corpus, index_dir=blocked / "index")
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        settings = make_settings(corpus_dir=small_corpus, index_dir=ro / "index")
    with pytest.raises(IndexWriteError, match="cannot write the index"):
        ingest(settings, embedder)


def test_text_and_pdf_find_the_same_articles(make_settings, embedder, tmp_path: Path) -> None:
    md, pdf = tmp_path / "md", tmp_path / "pdf"
    md.mkdir(), pdf.mkdir()
    for name in ("2021-data-security-law", "2022-shenzhen-ai-industry-promotion-regulation"):
        shutil.copy(CORPUS / "policies" / f"{name}.md", md)
        shutil.copy(PDFS / f"{name}.pdf", pdf)
    found = {}
    for folder in (md, pdf):
        settings = make_settings(corpus_dir=folder)
        ingest(settings, embedder)
        retriever = Retriever(VectorIndex(settings).open(), embedder)
        found[folder.name] = [
            (p.chunk.doc_id, p.chunk.article)
            for q in ("数据安全法什么时候施行", "国家建立数据分类分级保护制度", "深圳市人工智能产业的主管部门", "人工智能伦理委员会的职责")
            for p in retriever.search(q, 1)
        ]
    assert found["md"] == found["pdf"]
    assert found["pdf"][0] == ("2021-data-security-law", "第五十五条")


def test_an_ingest_killed_midway_leaves_the_old_index_complete(make_settings, embedder, small_corpus: Path) -> None:
    settings = make_settings(corpus_dir=small_corpus)
    ingest(settings, embedder)
    old_name, old_docs, old_chunks = snapshot(settings)
    shutil.copy(CORPUS / "policies" / "2021-personal-information-protection-law.md", small_corpus)
    law = small_corpus / "2021-data-security-law.md"
    law.write_text(law.read_text(encoding="utf-8") + "\n\n第五十六条 新增条文。", encoding="utf-8")
    env = {**os.environ, "POLICYQA_INDEX_DIR": str(settings.index_dir), "POLICYQA_CORPUS_DIR": str(small_corpus)}
    rng = random.Random(7)
    for delay in sorted(rng.uniform(4, 12) for _ in range(2)):
        proc = subprocess.Popen([sys.executable, "-m", "server.cli", "ingest"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        name, docs, chunks = snapshot(settings)
        # either fully old or fully new, never in between, and no orphan chunks
        assert name == old_name or "2021-personal-information-protection-law" in docs
        assert {c.doc_id for c in chunks} == set(docs)
        assert len(chunks) == sum(d.chunks for d in docs.values())
        if name == old_name:
            assert [c.id for c in chunks] == [c.id for c in old_chunks]
    done = subprocess.run([sys.executable, "-m", "server.cli", "ingest"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    name, docs, chunks = snapshot(settings)
    assert "2021-personal-information-protection-law" in docs and any("新增条文" in c.text for c in chunks)
    assert len(VectorIndex(settings).versions()) <= 3


def test_cli_exit_code_names_bad_files(make_settings, small_corpus: Path) -> None:
    settings = make_settings(corpus_dir=small_corpus)
    (small_corpus / "broken.pdf").write_bytes(b"%PDF-1.7 garbage")
    env = {**os.environ, "POLICYQA_INDEX_DIR": str(settings.index_dir), "POLICYQA_CORPUS_DIR": str(small_corpus)}
    done = subprocess.run([sys.executable, "-m", "server.cli", "ingest"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "broken.pdf" in done.stderr and "corrupt" in done.stderr
    assert "documents: 3" in done.stdout


def test_a_full_disk_is_a_clear_error_and_the_old_index_stays(make_settings, embedder, small_corpus: Path, tmp_path: Path) -> None:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2500k", "tmpfs", str(mount)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root) to fill a disk")
    try:
        settings = make_settings(corpus_dir=small_corpus, index_dir=mount / "index")
        ingest(settings, embedder, [small_corpus / "2021-algorithmic-recommendation-provisions.md"])
        before = snapshot(settings)
        for name in ("2021-personal-information-protection-law.md", "2021-science-and-technology-progress-law.md"):
            shutil.copy(CORPUS / "policies" / name, small_corpus)
        with pytest.raises(IndexWriteError, match=r"the disk holding .* is full"):
            ingest(settings, embedder)
        after = snapshot(settings)
        assert after[0] == before[0] and [c.id for c in after[2]] == [c.id for c in before[2]]
    finally:
        # lazy: Chroma's cached client still holds files there until the process ends
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _mixed_folder(root: Path) -> Path:
    """Two laws (one in a sub-folder), a broken PDF, two files of unread types, a hidden folder and a README."""
    folder = root / "incoming"
    (folder / "sub").mkdir(parents=True)
    (folder / ".cache").mkdir()
    shutil.copy(CORPUS / "policies" / "2021-data-security-law.md", folder)
    shutil.copy(CORPUS / "policies" / "2021-algorithmic-recommendation-provisions.md", folder / "sub")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 garbage")
    (folder / "sub" / "scan.png").write_bytes(b"\x89PNG\r\n")
    (folder / "notes.xyz").write_text("notes", encoding="utf-8")
    (folder / ".cache" / "old.md").write_text("# 旧稿", encoding="utf-8")
    (folder / "README.md").write_text("# 说明", encoding="utf-8")
    return folder


def test_a_folder_is_walked_and_every_file_not_indexed_is_named(make_settings, embedder, small_corpus: Path, tmp_path: Path) -> None:
    folder = _mixed_folder(tmp_path)
    report = ingest(make_settings(corpus_dir=small_corpus), embedder, [folder])
    assert sorted(report.added) == ["2021-algorithmic-recommendation-provisions", "2021-data-security-law"]
    assert set(report.skipped) == {str(folder / "notes.xyz"), str(folder / "sub" / "scan.png")}
    assert "unsupported file type '.png'" in report.skipped[str(folder / "sub" / "scan.png")]
    assert list(report.failed) == [str(folder / "broken.pdf")]
    # the hidden folder and the README are not documents: neither indexed nor reported
    assert report.documents == 2


def test_progress_counts_documents_and_passages_up_to_done(make_settings, embedder, small_corpus: Path) -> None:
    from ingest.pipeline import Progress, ProgressLog

    seen: list[Progress] = []
    lines: list[str] = []
    to_log = ProgressLog(lines.append, step=25, every=3600)

    def record(p: Progress) -> None:
        seen.append(p)
        to_log(p)

    report = ingest(make_settings(corpus_dir=small_corpus), embedder, progress=record)
    stages = [p.stage for p in seen]
    assert stages[0] == "reading" and stages[-1] == "publishing"
    assert stages == sorted(stages, key=["reading", "embedding", "publishing"].index)
    embedding = [p for p in seen if p.stage == "embedding"]
    assert len(embedding) > 5, "progress is reported only once or twice"
    assert [p.done for p in embedding] == sorted(p.done for p in embedding)
    last = embedding[-1]
    assert (last.files_done, last.files_total) == (3, 3)
    assert last.chunks_done == last.chunks_total == report.chunks
    assert last.done == last.total > report.chunks  # passages and their sentences
    assert any(p.eta is not None and p.eta > 0 for p in embedding[:-1])
    # the log says it in words: every quarter, with documents, passages, a percentage and an ETA
    assert lines[0].startswith("reading files 0/3")
    middle = [line for line in lines if line.startswith("indexing ") and "ETA" in line]
    assert middle and all(re.match(r"indexing \d+%: documents \d/3, passages \d+/\d+, ETA \d+s", line) for line in middle)
    assert 3 <= len([line for line in lines if line.startswith("indexing ")]) <= 7
    assert lines[-1] == f"publishing the index: {report.chunks} passages of 3 documents"


def _cli_ingest(settings, paths: list[Path], tty: bool) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    """Run `policyqa ingest PATHS`, with stderr piped or on a pseudo-terminal; returns (code, stdout, stderr)."""
    env = {**os.environ, "POLICYQA_INDEX_DIR": str(settings.index_dir), "POLICYQA_CORPUS_DIR": str(settings.corpus_dir)}
    command = [sys.executable, "-m", "server.cli", "ingest", *map(str, paths)]
    if not tty:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        return done.returncode, done.stdout, done.stderr
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a terminal has a width
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process ends
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read() if proc.stdout else ""
    os.close(leader)
    return proc.wait(timeout=60), out, b"".join(chunks).decode("utf-8", "replace")


def test_cli_ingest_of_a_folder_prints_plain_progress_when_piped_and_exits_1(make_settings, small_corpus: Path, tmp_path: Path) -> None:
    folder = _mixed_folder(tmp_path)
    code, out, err = _cli_ingest(make_settings(corpus_dir=small_corpus), [folder], tty=False)
    assert code == 1, err[-2000:]
    assert "documents: 2" in out and "added: 2" in out
    assert "\r" not in err, "a progress bar was drawn into a pipe"
    assert re.search(r"^indexing \d+%: documents \d/2, passages \d+/\d+", err, re.M), err[-2000:]
    assert f"skipped {folder / 'notes.xyz'}: unsupported file type '.xyz'" in err
    assert f"skipped {folder / 'sub' / 'scan.png'}: unsupported file type '.png'" in err
    assert f"failed {folder / 'broken.pdf'}: corrupt or truncated PDF" in err
    assert "not indexed: 2 skipped, 1 failed" in err
    assert "old.md" not in err and "README" not in err


def test_cli_ingest_draws_a_progress_bar_on_a_terminal(make_settings, small_corpus: Path) -> None:
    code, out, err = _cli_ingest(make_settings(corpus_dir=small_corpus), [], tty=True)
    assert code == 0, err[-2000:]
    assert "documents: 3" in out
    # tqdm redraws one line with carriage returns and ends at 100% with the counts and rate
    assert "\r" in err
    assert re.search(r"embedding: 100%\|█+\| (\d+)/\1 ", err), err[-1500:]
    assert "passages" in err and not re.search(r"^indexing \d+%", err, re.M)


def test_search_tokens_are_cut_at_ingest_and_read_back_unless_the_vocabulary_changed(make_settings, embedder, small_corpus: Path) -> None:
    from rag.text import add_words
    from rag.units import search_tokens

    settings = make_settings(corpus_dir=small_corpus)
    ingest(settings, embedder)
    version = VectorIndex(settings).open()
    stored = version.tokens()
    add_words(version.lexicon().words())
    assert stored and stored == search_tokens(version.chunks())
    assert any(" " not in t and len(t) > 1 for ts in stored.values() for t in ts)
    version.set_tokens(stored, "another-vocabulary")
    assert version.tokens() == {}  # cut with another lexicon: the retriever cuts them again
    assert Retriever(version, embedder).search("数据安全", 3)
