"""Content sniffing: what an upload's bytes really are, and whether that matches its label.

libmagic (through python-magic) names the bytes; a few rules of ours sit on top where its
answer is not what the pipeline needs: Office Open XML documents are told apart from plain
zips by their member names, its guesses at a text's language or shape (C, CSV, TeX, ...)
collapse to `text/plain`, Windows executables get one name, and only a format's signature
makes an executable (`executable_signature`), never libmagic's guess. Text is what libmagic
recognises as text in any encoding it knows (UTF-8, UTF-16, Latin-1), and also any valid
UTF-8 without control bytes. bench/sniffing.py measured libmagic against puremagic and shows
why libmagic was chosen. libmagic is loaded, and reads its compiled database, on first use;
nothing else here does I/O. Loading it no sooner keeps every command that sniffs nothing
(`filedock --help`, the client commands) working on a machine without libmagic.
"""

from __future__ import annotations

import codecs
import re
import struct
from functools import cache
from typing import TYPE_CHECKING, Final

from filedock.core.model import media_type

if TYPE_CHECKING:
    import magic

SNIFF_BYTES: Final = 64 * 1024
"""How much of the start of a file `detect_type` looks at."""

EMPTY: Final = "application/x-empty"
OCTET_STREAM: Final = "application/octet-stream"
DOCX: Final = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX: Final = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

ELF: Final = "application/x-executable"
DOS_EXECUTABLE: Final = "application/x-dosexec"
MACH_O: Final = "application/x-mach-binary"
JAVA_CLASS: Final = "application/x-java-applet"
SCRIPT: Final = "text/x-script"
"""A `#!` script whose interpreter libmagic does not name."""

EXECUTABLES: Final = frozenset(
    {
        ELF,
        "application/x-pie-executable",
        "application/x-sharedlib",
        "application/x-object",
        DOS_EXECUTABLE,
        MACH_O,
        JAVA_CLASS,
    }
)

# Other names for the same thing, from browsers, operating systems and libmagic versions.
_ALIASES: Final = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-pdf": "application/pdf",
    "application/x-zip-compressed": "application/zip",
    "application/x-zip": "application/zip",
    "text/x-csv": "text/csv",
    "application/csv": "text/csv",
    "application/xml": "text/xml",
    "binary/octet-stream": OCTET_STREAM,
    "application/vnd.microsoft.portable-executable": "application/x-dosexec",
    "application/x-msdownload": "application/x-dosexec",
    "application/x-msdos-program": "application/x-dosexec",
    "application/java-vm": JAVA_CLASS,
}

_TEXT: Final = frozenset({"text/plain", "text/csv", EMPTY})
_RASTER_IMAGES: Final = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/bmp",
        "image/tiff",
        "image/avif",
        "image/heic",
        "image/heif",
        "image/vnd.microsoft.icon",
    }
)
# Legacy Office files are OLE2 containers; libmagic names the container or, when it can
# tell, the application.
_OLE2_DOCUMENTS: Final = frozenset(
    {
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/cdfv2",
        "application/x-ole-storage",
    }
)
_ANY_BUT_EXECUTABLES: Final = frozenset({"*"})

# Declared type → the detected types consistent with it. A declared type not listed agrees
# only with itself. An executable is refused before this table is read, unless declared as one.
_ACCEPTED: Final[dict[str, frozenset[str]]] = {
    # Plain text promises nothing a browser or a shell would act on: HTML, XML, SVG and
    # scripts must be declared as what they are (and are then served as attachments).
    "text/plain": _TEXT,
    "text/csv": _TEXT,
    # Structured text that libmagic only names when it sees a marker (`<html`, `<?xml`, a
    # complete JSON value); a fragment or a cut-off head of one is plain text to it.
    **{kind: _TEXT | {kind} for kind in ("text/html", "text/xml", "application/json")},
    "image/svg+xml": frozenset({"image/svg+xml"}),
    # Browsers decode raster images by their bytes, whatever the label: a PNG called JPEG
    # is harmless.
    **dict.fromkeys(_RASTER_IMAGES, _RASTER_IMAGES),
    "application/pdf": frozenset({"application/pdf"}),
    # A plain zip is not a document; a document is a zip.
    DOCX: frozenset({DOCX}),
    XLSX: frozenset({XLSX}),
    PPTX: frozenset({PPTX}),
    "application/zip": frozenset({"application/zip", DOCX, XLSX, PPTX}),
    **dict.fromkeys(
        ("application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"),
        _OLE2_DOCUMENTS,
    ),
    **dict.fromkeys(EXECUTABLES, EXECUTABLES),
    # "Some bytes": what browsers send for an unknown extension.
    OCTET_STREAM: _ANY_BUT_EXECUTABLES,
}


def detect_type(head: bytes, filename: str | None) -> str:
    """The MIME type that the first `SNIFF_BYTES` of a file show it to be.

    `filename` only narrows text to `text/csv` for a `.csv` name; it never changes what
    kind of thing the bytes are.
    """
    head = head[:SNIFF_BYTES]
    if not head:
        return EMPTY
    found = _library_type(head)
    signature = executable_signature(head)
    if signature is not None:
        # libmagic's name is finer (a PIE, a shared library) where it sees the same thing.
        return found if found in EXECUTABLES else signature
    if found in EXECUTABLES:
        # A guess without a signature, such as a DOS COM program: see executable_signature.
        found = OCTET_STREAM
    if head.startswith(_ZIP_LOCAL_HEADER):
        return _ooxml_type(head) or _zip_type(found)
    if found.startswith("text/") or (found == OCTET_STREAM and _is_utf8_text(head)):
        if head.startswith(b"#!"):
            # The kernel runs any text that starts so, whatever libmagic makes of the rest.
            return found if found.startswith("text/x-") else SCRIPT
        if found in _DISTINCT_TEXT:
            return found
        return "text/csv" if _named_csv(filename) else "text/plain"
    return found


def executable_signature(head: bytes) -> str | None:
    """The executable format whose signature `head` starts with, or None.

    Only a signature a loader checks before it runs anything counts: ELF, MZ (DOS, and the
    PE executables of Windows behind it), Mach-O and its fat form, and Java classes. libmagic
    also guesses DOS COM programs from a first instruction (bytes 0xB8, 0xE9, 0xEB, 0x8C, …);
    a COM file has no signature, and about 1 % of random or encrypted data starts the same
    way, so those guesses are data. The price of taking "MZ" alone: 1 in 65,536 random
    files is refused as an executable, where a check of more header fields could be passed
    by a real program that Windows or DOS still runs.
    """
    if head.startswith(b"\x7fELF"):
        return ELF
    if head.startswith(b"MZ"):
        return DOS_EXECUTABLE
    magic_number = head[:4]
    if magic_number in _MACH_O_MAGIC:
        return MACH_O
    if magic_number == _CAFEBABE:
        # Both a fat Mach-O (an architecture count follows: a handful) and a Java class (its
        # version follows: 45 and up) start so; both are programs. libmagic's cut between them.
        follows = int.from_bytes(head[4:8], "big") if len(head) >= 8 else 0
        return JAVA_CLASS if follows > 30 else MACH_O
    return None


def type_agrees(declared: str, detected: str) -> bool:
    """Whether a declared content type (any case, parameters allowed) fits the detected one."""
    declared, detected = _normalise(declared), _normalise(detected)
    if detected in EXECUTABLES and declared not in EXECUTABLES:
        return False
    accepted = _ACCEPTED.get(declared, frozenset({declared}))
    return accepted is _ANY_BUT_EXECUTABLES or detected in accepted


# Text types libmagic names from a real marker, kept rather than collapsed to text/plain.
# Its other text/* answers are guesses at a language (`#include` → C, commas → CSV); a
# script is known by its `#!` line.
_DISTINCT_TEXT: Final = frozenset({"text/html", "text/xml", "text/rtf"})

# C0 control bytes that do not occur in text (file(1)'s list); TAB, LF, VT, FF, CR, BEL,
# BS and ESC (terminal colours in logs) do.
_BINARY_BYTES: Final = re.compile(rb"[\x00-\x06\x0e-\x1a\x1c-\x1f]")

# Mach-O, 32 and 64 bit in either byte order, and the 64-bit fat header.
_MACH_O_MAGIC: Final = frozenset(
    {
        b"\xfe\xed\xfa\xce",
        b"\xce\xfa\xed\xfe",
        b"\xfe\xed\xfa\xcf",
        b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbf",
    }
)
_CAFEBABE: Final = b"\xca\xfe\xba\xbe"

_ZIP_LOCAL_HEADER: Final = b"PK\x03\x04"
# signature, version, flags, method, time, date, crc32, compressed, size, name len, extra len
_LOCAL_HEADER: Final = struct.Struct("<4sHHHHHIIIHH")
_SIZES_AFTER_DATA: Final = 0x08
_ZIP64_SIZE: Final = 0xFFFFFFFF
_OOXML_PACKAGE_PARTS: Final = ("[Content_Types].xml", "_rels/.rels", "docProps/")
_OOXML_MAIN_FOLDERS: Final = {"word/": DOCX, "xl/": XLSX, "ppt/": PPTX}


def _normalise(content_type: str) -> str:
    kind = media_type(content_type)
    return _ALIASES.get(kind, kind)


class LibmagicMissing(RuntimeError):
    """python-magic or the libmagic library it loads is not installed on this machine."""


def require_libmagic() -> None:
    """Load libmagic now (`LibmagicMissing` if it cannot be): `serve` checks before it
    listens, rather than every upload failing its processing later."""
    _libmagic()


@cache
def _libmagic() -> magic.Magic:
    # One instance for the process: loading the database is the slow part, and python-magic
    # serialises calls on an instance with its own lock.
    try:
        import magic
    except ImportError as exc:
        # python-magic raises ImportError itself when it cannot find the shared library.
        raise LibmagicMissing(
            "content sniffing needs the libmagic library, which could not be loaded "
            f"({exc}): install the system package libmagic1 (Debian/Ubuntu), "
            "file-libs (Fedora/RHEL) or libmagic (Homebrew, Alpine)"
        ) from exc
    return magic.Magic(mime=True)


def _library_type(head: bytes) -> str:
    libmagic = _libmagic()
    import magic  # loaded by _libmagic just now: a look-up in sys.modules

    try:
        found = libmagic.from_buffer(head)
    except magic.MagicException:
        return OCTET_STREAM
    return _ALIASES.get(found, found) or OCTET_STREAM


def _zip_type(found: str) -> str:
    # Our member-name check decides what is an Office document; libmagic keeps its other
    # zip-based answers (EPUB, OpenDocument, Java archives).
    return "application/zip" if found in (DOCX, XLSX, PPTX, OCTET_STREAM) else found


def _ooxml_type(head: bytes) -> str | None:
    """DOCX, XLSX or PPTX when the zip's first members are an Office Open XML package."""
    names = _zip_member_names(head)
    if not any(name.startswith(_OOXML_PACKAGE_PARTS) for name in names):
        return None
    for name in names:
        for folder, kind in _OOXML_MAIN_FOLDERS.items():
            if name.startswith(folder):
                return kind
    return None


def _zip_member_names(head: bytes) -> list[str]:
    """Names in the local file headers within `head`; the central directory is at the end."""
    names: list[str] = []
    offset = 0
    while offset + _LOCAL_HEADER.size <= len(head):
        fields = _LOCAL_HEADER.unpack_from(head, offset)
        if fields[0] != _ZIP_LOCAL_HEADER:
            break
        flags, compressed, name_length, extra_length = fields[2], fields[7], fields[9], fields[10]
        name_start = offset + _LOCAL_HEADER.size
        names.append(head[name_start : name_start + name_length].decode("utf-8", "replace"))
        data_start = name_start + name_length + extra_length
        if flags & _SIZES_AFTER_DATA or compressed == _ZIP64_SIZE:
            # The size is not in this header (streamed or zip64): find the next header.
            offset = head.find(_ZIP_LOCAL_HEADER, data_start)
            if offset < 0:
                break
        else:
            # Jumping over the data keeps a zip that holds a stored .docx a zip.
            offset = data_start + compressed
    return names


def _is_utf8_text(head: bytes) -> bool:
    if _BINARY_BYTES.search(head):
        return False
    # A head cut at SNIFF_BYTES may end inside a character; a whole file may not.
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=len(head) < SNIFF_BYTES)
    except UnicodeDecodeError:
        return False
    return True


def _named_csv(filename: str | None) -> bool:
    return filename is not None and filename.lower().endswith(".csv")
