"""Text encodings and line endings of raw files: detect them, and transcode to the UTF-8 polars reads.

polars reads UTF-8 only, and splits lines on `\\n` (or `\\r\\n`) only. A file in another encoding (GBK,
GB18030, or whatever `auto` detects), or with any other line ending anywhere in it (old-Mac/PLC CR-only,
a Windows re-save of a CRLF file that wrote `\\r\\r\\n`, or a mix), is therefore rewritten, streaming in
1 MiB chunks, to a temporary UTF-8 file with `\\n` line endings, and polars reads that copy.

Line endings, as `line_of` counts them and the copy writes them: `\\n`, `\\r\\n` and `\\r\\r\\n` (any run
of CRs before an LF) end one line each; a CR not followed by LF ends a line of its own. So a CRLF file
re-saved as `\\r\\r\\n` has as many lines as before, and the copy has as many lines as the original.

Readers return lazy frames that are only read when the ingest stage sinks them, so a temporary copy
must outlive `scan_file`: every copy is registered for the current thread and deleted by
`release_temp_files()` (or at the end of a `temp_files()` block). Whatever is left is deleted when
the process exits normally, or else (`moshu` ends with `os._exit`, which skips atexit) by the next
process that makes a copy, which removes the copy folders of processes that no longer run.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipelines.errors import BadFileError

SAMPLE_BYTES = 64 * 1024
CHUNK_BYTES = 1 << 20
UTF8_BOM = codecs.BOM_UTF8
UTF8 = "utf-8"
DECLARED_CODECS = {"utf8": UTF8, "utf8-lossy": UTF8, "utf8-sig": UTF8, "gbk": "gbk", "gb18030": "gb18030"}
ENCODING_CHOICES = "utf8, utf8-sig, gbk, gb18030"
# A detected GBK/GB2312 is read as GB18030, its superset: the same bytes decode the same way.
_SUPERSETS = {"gbk": "gb18030", "gb2312": "gb18030", "ascii": UTF8}
# One line ending: CRs then LF (`\\n`, `\\r\\n`, `\\r\\r\\n`), or a CR that no LF follows.
_EOL = re.compile(r"\r+\n|\r|\n")
_EOL_BYTES = re.compile(rb"\r+\n|\r|\n")


@dataclass(frozen=True)
class Prepared:
    """A raw text file made readable by polars.

    Attributes:
        path: The file polars should read: the original, or a temporary UTF-8 copy.
        polars_encoding: The `encoding` to pass to polars (`utf8` or `utf8-lossy`).
        codec: The Python codec the file is in (`utf-8`, `gb18030`, ...).
        tried: How the codec was chosen, for messages (e.g. `gbk (declared)`).
        transcoded: Whether `path` is a temporary copy.
    """

    path: Path
    polars_encoding: Literal["utf8", "utf8-lossy"]
    codec: str
    tried: str
    transcoded: bool


class _BadBytes(Exception):
    """Bytes that do not decode, at `offset` from the start of the file."""

    def __init__(self, offset: int, data: bytes) -> None:
        super().__init__(offset)
        self.offset = offset
        self.data = data


# ---------------------------------------------------------------------------------------------
# Temporary copies


class _Registry(threading.local):
    files: list[Path]

    def __init__(self) -> None:
        self.files = []


_registry = _Registry()
_dir_lock = threading.Lock()
_dir: tuple[int, Path] | None = None  # (pid, directory): a forked child makes its own
_PREFIX = "moshu-ingest-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _sweep_stale(parent: Path) -> None:
    """Remove the copy folders of processes that have ended (`moshu` ends with `os._exit`, so atexit may not run)."""
    for d in parent.glob(f"{_PREFIX}*-*"):
        pid = d.name[len(_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def _temp_dir() -> Path:
    global _dir
    with _dir_lock:
        if _dir is None or _dir[0] != os.getpid():
            _sweep_stale(Path(tempfile.gettempdir()))
            path = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
            _dir = (os.getpid(), path)
            atexit.register(_remove_dir, os.getpid(), path)
        return _dir[1]


def _remove_dir(pid: int, path: Path) -> None:
    if os.getpid() == pid:
        shutil.rmtree(path, ignore_errors=True)


def new_temp_file(source: Path) -> Path:
    """Create an empty temporary file for a copy of `source`, registered for the current thread.

    Args:
        source: The raw file the copy is made from (its name is kept in the copy's name).

    Returns:
        The path of the new, empty file.
    """
    fd, name = tempfile.mkstemp(prefix=f"{source.stem[:40]}-", suffix=source.suffix, dir=_temp_dir())
    os.close(fd)
    path = Path(name)
    _registry.files.append(path)
    return path


def forget_temp_file(path: Path) -> None:
    """Delete one temporary copy now (e.g. when the file it was made for turned out to be unreadable)."""
    if path in _registry.files:
        _registry.files.remove(path)
    path.unlink(missing_ok=True)


def release_temp_files() -> int:
    """Delete every temporary copy the current thread made; call once the scanned frames have been sunk.

    Returns:
        How many files were deleted.
    """
    files, _registry.files = _registry.files, []
    for p in files:
        p.unlink(missing_ok=True)
    return len(files)


@contextlib.contextmanager
def temp_files() -> Iterator[None]:
    """Delete the temporary copies made inside the block (by this thread) when it ends, however it ends."""
    mark = len(_registry.files)
    try:
        yield
    finally:
        made, _registry.files = _registry.files[mark:], _registry.files[:mark]
        for p in made:
            p.unlink(missing_ok=True)


def pending_temp_files() -> list[Path]:
    """Temporary copies the current thread made and has not released yet (for tests and diagnostics)."""
    return list(_registry.files)


@contextlib.contextmanager
def discard_on_error() -> Iterator[None]:
    """Delete the temporary copies made inside the block if it raises (a file that failed needs none)."""
    mark = len(_registry.files)
    try:
        yield
    except BaseException:
        for p in _registry.files[mark:]:
            forget_temp_file(p)
        raise


# ---------------------------------------------------------------------------------------------
# Detection


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(SAMPLE_BYTES)


def has_lone_cr(sample: bytes) -> bool:
    """Whether a sample has a CR not followed by LF (old Mac / PLC endings, or the first CR of `\\r\\r\\n`)."""
    body = sample[:-1] if sample.endswith(b"\r") else sample  # its LF may be in the next chunk
    return body.count(b"\r") > body.count(b"\r\n")


def needs_newline_fix(path: Path) -> bool:
    """Whether any line of a file, anywhere in it, ends other than with LF or CRLF (so polars cannot split it).

    Reads the whole file in 1 MiB chunks; a CRLF cut by a chunk boundary is not mistaken for a lone CR.
    """
    with path.open("rb") as f:
        carry = b""
        while chunk := f.read(CHUNK_BYTES):
            if b"\r" not in chunk and not carry:  # LF-only text: one scan
                continue
            if has_lone_cr(carry + chunk):
                return True
            carry = b"\r" if chunk.endswith(b"\r") else b""
    return bool(carry)  # the file ends with a lone CR


def _sample_for_detection(sample: bytes) -> bytes:
    """The sample cut after its last line break, so no character is cut in half (when there is one)."""
    if len(sample) < SAMPLE_BYTES:
        return sample
    cut = max(sample.rfind(b"\n"), sample.rfind(b"\r"))
    return sample[: cut + 1] if cut > 0 else sample


def detect_codec(sample: bytes) -> str | None:
    """Guess the codec of a sample: UTF-8 when it decodes as such, else charset-normalizer's best guess.

    Args:
        sample: The first bytes of a file (a byte-order mark is checked by the caller).

    Returns:
        A Python codec name (`utf-8`, `gb18030`, ...), or None when nothing fits.
    """
    sample = _sample_for_detection(sample)
    try:
        sample.decode(UTF8)
        return UTF8
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        return None
    name = codecs.lookup(best.encoding).name
    return _SUPERSETS.get(name, name)


def _choose(head: bytes, declared: str, display: str) -> tuple[str, str]:
    """(codec, how it was chosen) for a file whose first bytes are `head`."""
    bom = head.startswith(UTF8_BOM)
    if declared == "auto":
        if bom:
            return UTF8, "utf-8 (byte-order mark, `auto`)"
        codec = detect_codec(head)
        if codec is None:
            raise BadFileError(
                f"`{display}`: `source.csv.encoding: auto` cannot tell the file's encoding from its first "
                f"{SAMPLE_BYTES // 1024} KiB; declare it in `source.csv.encoding` ({ENCODING_CHOICES})"
            )
        return codec, f"{codec} (detected by `auto` from the first {SAMPLE_BYTES // 1024} KiB)"
    codec = DECLARED_CODECS[declared]
    if bom and codec != UTF8:
        raise BadFileError(
            f"`{display}`: byte offset 0: the file starts with a UTF-8 byte-order mark, but `source.csv.encoding` is "
            f"`{declared}`; the file is UTF-8: declare `encoding: utf8-sig` (or `auto`)"
        )
    return codec, f"{codec} (declared as `{declared}`)"


# ---------------------------------------------------------------------------------------------
# Decoding


def _decode(buf: bytes, codec: str, final: bool) -> tuple[str, int]:
    """Decode `buf` strictly; returns (text, bytes used), leaving a sequence cut by the chunk end for later.

    Raises:
        _BadBytes: with the offset of the first bad byte within `buf`.
    """
    try:
        return buf.decode(codec), len(buf)
    except UnicodeDecodeError as e:
        if not final and e.end == len(buf) and len(buf) - e.start < 4:
            return buf[: e.start].decode(codec), e.start  # completed by the next chunk (or reported then)
        raise _BadBytes(e.start, buf[e.start : e.end]) from None


def _iter_text(path: Path, codec: str, *, skip: int, lossy: bool) -> Iterator[str]:
    """Decode a file chunk by chunk.

    Raises:
        _BadBytes: the first byte that does not decode (never when `lossy`), with its file offset.
    """
    decoder = codecs.getincrementaldecoder(codec)(errors="replace") if lossy else None
    with path.open("rb") as f:
        f.seek(skip)
        base, carry = skip, b""
        while True:
            chunk = f.read(CHUNK_BYTES)
            final = not chunk
            if decoder is not None:
                yield decoder.decode(chunk, final=final)
            else:
                buf = carry + chunk
                try:
                    text, used = _decode(buf, codec, final)
                except _BadBytes as e:
                    raise _BadBytes(base + e.offset, e.data) from None
                carry, base = buf[used:], base + used
                yield text
            if final:
                return


def _normalise_newlines(chunks: Iterator[str]) -> Iterator[str]:
    """Turn every line ending (`\\r\\n`, `\\r\\r\\n`, a lone CR; see the module docstring) into LF, across chunks."""
    held = ""
    for chunk in chunks:
        text = held + chunk
        body = text.rstrip("\r")  # a run of CRs at the end may be followed by an LF in the next chunk
        held = text[len(body) :]
        yield _EOL.sub("\n", body)
    if held:
        yield "\n" * len(held)


def line_of(path: Path, offset: int) -> int:
    """The 1-based line that byte `offset` of a file is on (any line endings, see the module docstring).

    Valid for UTF-8, GBK and GB18030, in which CR and LF bytes never occur inside a character.
    """
    n, left, held = 0, offset, b""
    with path.open("rb") as f:
        while left > 0:
            chunk = f.read(min(CHUNK_BYTES, left))
            if not chunk:
                break
            left -= len(chunk)
            text = held + chunk
            body = text.rstrip(b"\r")  # CRs at the end may belong to a `\r\r\n` completed by the next chunk
            held = text[len(body) :]
            n += len(_EOL_BYTES.findall(body))
    if held:  # CRs just before `offset`: they end a line unless an LF follows
        with path.open("rb") as f:
            f.seek(offset)
            n += 0 if f.read(1) == b"\n" else len(held)
    return n + 1


def _decode_error(path: Path, display: str, e: _BadBytes, codec: str, tried: str) -> BadFileError:
    bad = " ".join(f"{b:02x}" for b in e.data[:4]) or "?"
    if codec == UTF8:
        guess = detect_codec(_head(path))
        looks = f" (it looks like {guess}: declare `{guess}`)" if guess in DECLARED_CODECS else ""
        fix = (
            f"declare the file's encoding in `source.csv.encoding` ({ENCODING_CHOICES}) or `auto`{looks}, "
            "or `utf8-lossy` to replace undecodable bytes"
        )
    else:
        fix = (
            f"if the file is in another encoding, declare it in `source.csv.encoding` ({ENCODING_CHOICES}) or set `auto`; "
            "if it is damaged, repair or remove the bytes at that offset"
        )
    return BadFileError(
        f"`{display}`: cannot decode byte offset {e.offset} (line {line_of(path, e.offset)}) as {tried}: "
        f"bytes `{bad}` are not valid {codec}; {fix}"
    )


def check_decodable(path: Path, declared: str, display: str) -> None:
    """Decode a whole file as its declared (or detected) encoding, streaming; raise at the first bad byte.

    Raises:
        BadFileError: naming the file, the byte offset and line of the first bad byte, the encoding tried and the fix.
    """
    head = _head(path)
    codec, tried = _choose(head, declared, display)
    skip = len(UTF8_BOM) if head.startswith(UTF8_BOM) else 0
    try:
        for _ in _iter_text(path, codec, skip=skip, lossy=declared == "utf8-lossy"):
            pass
    except _BadBytes as e:
        raise _decode_error(path, display, e, codec, tried) from None


def prepare_text(path: Path, declared: str, display: str, *, keep_bom: bool = True) -> Prepared:
    """Make a raw text file readable by polars: the file itself, or a temporary UTF-8 copy with LF endings.

    A copy is made when the file is not UTF-8, when any of its lines ends with something else than LF or
    CRLF (a lone CR, `\\r\\r\\n`), or when it starts with a byte-order mark and `keep_bom` is false (polars' CSV reader drops a BOM itself, its JSON reader does not).

    Args:
        path: The raw file.
        declared: The spec's `source.csv.encoding`.
        display: The file's path as shown in messages.
        keep_bom: Whether polars may be given a file that starts with a UTF-8 byte-order mark.

    Returns:
        What to read and how.

    Raises:
        BadFileError: the encoding cannot be detected, contradicts a byte-order mark, or a byte does not decode.
    """
    head = _head(path)
    codec, tried = _choose(head, declared, display)
    bom = head.startswith(UTF8_BOM)
    lossy = declared == "utf8-lossy"
    cr_only = has_lone_cr(head) or needs_newline_fix(path)
    if codec == UTF8 and not cr_only and (keep_bom or not bom):
        return Prepared(path, "utf8-lossy" if lossy else "utf8", codec, tried, transcoded=False)
    out = new_temp_file(path)
    try:
        text = _iter_text(path, codec, skip=len(UTF8_BOM) if bom else 0, lossy=lossy)
        with out.open("w", encoding=UTF8, newline="") as f:
            for part in _normalise_newlines(text) if cr_only else text:
                f.write(part)
    except _BadBytes as e:
        forget_temp_file(out)
        raise _decode_error(path, display, e, codec, tried) from None
    except BaseException:
        forget_temp_file(out)
        raise
    return Prepared(out, "utf8", codec, tried, transcoded=True)
