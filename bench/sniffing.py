"""Content-type sniffing benchmark: python-magic (libmagic) against puremagic, same samples.

Run from the repository root with the project's venv:

    .venv/bin/python bench/sniffing.py [--seconds 0.1]

Every sample is built in memory. Each library sees only bytes (no filename hint), as the
processing job does: the first 64 KiB of the object. Two correctness columns: the small
sample as built, and the same sample grown to at least 64 KiB the way real files grow (text
repeats its lines, a DOCX gains a picture, binaries gain data after their headers) and cut to
its 64 KiB head, which is what the job hands over; the speed columns are measured on that
head. The last column is filedock's own `detect_type` (libmagic plus the rules in
`filedock.core.sniffing`). Speed ratios are against python-magic, measured in the same run.
This is a benchmark, not a test: a wrong answer prints `x`, the exit status stays 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import random
import statistics
import struct
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

HEAD = 64 * 1024
BOM = b"\xef\xbb\xbf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ELF_TYPES = frozenset(
    {"application/x-executable", "application/x-pie-executable", "application/x-sharedlib"}
)
PE_TYPES = {"application/x-dosexec", "application/vnd.microsoft.portable-executable"}
TEXT_TYPES = {"text/plain", "text/csv"}


@dataclass(frozen=True)
class Sample:
    name: str
    expected: frozenset[str]
    small: bytes
    head: bytes  # the sample grown past 64 KiB, cut to its 64 KiB head

    @property
    def label(self) -> str:
        if self.expected == ELF_TYPES:
            return "application/x-executable (or -pie-, sharedlib)"
        return " or ".join(sorted(shorten(kind) for kind in self.expected))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.1, help="timing window per cell")
    args = parser.parse_args()

    detectors = build_detectors()
    samples = build_samples()
    print(
        f"python {platform.python_version()}, {platform.machine()}; "
        + ", ".join(f"{name} {version}" for name, version in library_versions().items())
    )
    print(
        f"head = {HEAD // 1024} KiB; calls/s = best of 5 interleaved windows of {args.seconds} s\n"
    )

    names = list(detectors)
    rows, score = [], dict.fromkeys(names, 0)
    for sample in samples:
        row = [sample.name, sample.label]
        for name, detect in detectors.items():
            small, head = detect(sample.small), detect(sample.head)
            ok_small, ok_head = small in sample.expected, head in sample.expected
            score[name] += ok_small + ok_head
            both = f"{mark(small, ok_small)} | {mark(head, ok_head)}"
            row.append(mark(small, ok_small) if small == head else both)
        rows.append(row)
    rows.append(["correct", "", *(f"{score[n]}/{2 * len(samples)}" for n in names)])
    print("Detected MIME type (small sample | its 64 KiB head, when they differ); x = wrong")
    print_table(["sample", "expected", *names], rows)

    print("\nSpeed on the 64 KiB head: calls/s (ratio against python-magic)")
    rates: dict[str, list[float]] = {n: [] for n in names}
    for sample in samples:
        best = calls_per_second(detectors, sample.head, args.seconds)
        for n in names:
            rates[n].append(best[n])
    rows = []
    for index, sample in enumerate(samples):
        reference = rates["python-magic"][index]
        rows.append([sample.name, *(rate_cell(rates[n][index], reference) for n in names)])
    # The empty file is not a 64 KiB head and detect_type answers it without libmagic.
    sized = [i for i, sample in enumerate(samples) if sample.head]
    geo = {n: statistics.geometric_mean(rates[n][i] for i in sized) for n in names}
    label = f"geometric mean of the {len(sized)} non-empty"
    rows.append([label, *(rate_cell(geo[n], geo["python-magic"]) for n in names)])
    print_table(["sample", *names], rows, right=True)


def print_table(header: list[str], rows: list[list[str]], right: bool = False) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = f"{cells[0]:<{widths[0]}}"
        rest = [
            f"{c:>{w}}" if right else f"{c:<{w}}"
            for c, w in zip(cells[1:], widths[1:], strict=True)
        ]
        return "  ".join([first, *rest]).rstrip()

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def build_detectors() -> dict[str, Callable[[bytes], str]]:
    """python-magic is the reference; puremagic is measured when installed (it is not a
    dependency of filedock: `.venv/bin/pip install puremagic`)."""
    import magic

    from filedock.core.sniffing import detect_type

    libmagic = magic.Magic(mime=True)
    detectors: dict[str, Callable[[bytes], str]] = {
        "python-magic": lambda head: str(libmagic.from_buffer(head))
    }
    try:
        import puremagic
    except ImportError:
        print("puremagic is not installed: its column is left out")
    else:

        def pure_magic(head: bytes) -> str:
            try:
                return str(puremagic.from_string(head, mime=True)) or "(no answer)"
            except (puremagic.PureError, ValueError):
                return "(no answer)"

        detectors["puremagic"] = pure_magic
    detectors["detect_type"] = lambda head: detect_type(head, None)
    return detectors


def library_versions() -> dict[str, str]:
    import magic

    versions = {}
    for name in ("python-magic", "puremagic"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    versions["libmagic"] = str(magic.version())
    return versions


def calls_per_second(
    detectors: dict[str, Callable[[bytes], str]], head: bytes, seconds: float
) -> dict[str, float]:
    """Best rate of each detector over 5 rounds, the detectors taking turns within a round so
    that a noisy neighbour slows all of them alike."""
    best = dict.fromkeys(detectors, 0.0)
    for _ in range(5):
        for name, detect in detectors.items():
            calls, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                for _ in range(10):
                    detect(head)
                calls += 10
            best[name] = max(best[name], calls / elapsed)
    return best


def mark(mime: str, ok: bool) -> str:
    return shorten(mime) + ("" if ok else " x")


def shorten(mime: str) -> str:
    return mime.replace("vnd.openxmlformats-officedocument.", "ooxml.").replace(
        "vnd.microsoft.portable-executable", "vnd.ms-pe"
    )


def rate_cell(rate: float, reference: float) -> str:
    return f"{rate:,.0f} ({rate / reference:.2f}x)"


# Samples ------------------------------------------------------------------------------------


def build_samples() -> list[Sample]:
    rng = random.Random(20240601)

    def noise(n: int) -> bytes:
        return rng.randbytes(n)

    def grow_text(text: bytes) -> bytes:
        return (text * (HEAD // max(len(text), 1) + 2))[:HEAD]

    def grow_binary(data: bytes) -> bytes:
        return (data + noise(HEAD))[:HEAD]

    csv = b"id,name,amount,date\n" + b"".join(
        b"%d,Customer %d,%d.%02d,2024-05-%02d\n" % (i, i, i * 7, i % 100, i % 28 + 1)
        for i in range(1, 40)
    )
    text = "Grüße aus Köln. 東京の天気は晴れ。 Plain UTF-8 prose, nothing else.\n".encode()
    html = (
        b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Hi</title>'
        b"</head>\n<body><p>Hello</p><script>alert(1)</script></body></html>\n"
    )
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" viewBox="0 0 10 10">'
        b'<rect width="10" height="10" fill="red"/></svg>\n'
    )
    script = b"#!/bin/sh\nset -eu\necho 'hello'\nrm -rf \"$TMPDIR/cache\"\n"
    latin1 = "id;ville;montant\n1;Orléans;12,50\n2;Besançon;7,00\n".encode("latin-1")
    samples = [
        ("PDF", {"application/pdf"}, pdf(), None),
        ("PNG", {"image/png"}, png(), None),
        ("JPEG", {"image/jpeg"}, jpeg(), None),
        ("GIF", {"image/gif"}, gif(), None),
        ("ZIP", {"application/zip"}, plain_zip(b""), plain_zip(noise(HEAD))),
        ("DOCX", {DOCX}, docx(b""), docx(noise(HEAD))),
        ("XLSX", {XLSX}, xlsx(b""), xlsx(noise(HEAD))),
        ("CSV", TEXT_TYPES, csv, grow_text(csv)),
        ("CSV latin-1", TEXT_TYPES, latin1, grow_text(latin1)),
        ("UTF-8 text", {"text/plain"}, text, grow_text(text)),
        ("UTF-8 BOM text", {"text/plain"}, BOM + text, BOM + grow_text(text)),
        ("HTML", {"text/html"}, html, grow_text(html)),
        ("SVG", {"image/svg+xml"}, svg, svg[:-7] + grow_text(b"<g/>")[: HEAD - len(svg)]),
        ("ELF", ELF_TYPES, elf(), None),
        ("PE (MZ)", PE_TYPES, pe(), None),
        ("shell script", {"text/x-shellscript"}, script, grow_text(script)),
        ("random bytes", {"application/octet-stream"}, noise(512), noise(HEAD)),
        ("empty", {"application/x-empty", "inode/x-empty"}, b"", b""),
    ]
    return [
        Sample(
            name,
            frozenset(expected),
            small,
            (grow_binary(small) if grown is None else grown)[:HEAD],
        )
        for name, expected, small, grown in samples
    ]


def pdf() -> bytes:
    body = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return body


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def jpeg() -> bytes:
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    quant = b"\x00" + bytes(range(1, 65))
    frame = b"\x08\x00\x01\x00\x01\x01\x01\x11\x00"
    return (
        b"\xff\xd8"
        + b"\xff\xe0"
        + struct.pack(">H", len(app0) + 2)
        + app0
        + b"\xff\xdb"
        + struct.pack(">H", len(quant) + 2)
        + quant
        + b"\xff\xc0"
        + struct.pack(">H", len(frame) + 2)
        + frame
        + b"\xff\xd9"
    )


def gif() -> bytes:
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
        b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def zip_of(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def plain_zip(padding: bytes) -> bytes:
    return zip_of(
        [("notes.txt", b"hello\n"), ("data/numbers.csv", b"a,b\n1,2\n"), ("data/blob.bin", padding)]
    )


def docx(picture: bytes) -> bytes:
    """A minimal Word document as Word writes it: [Content_Types].xml first."""
    content_types = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        b'<Default Extension="png" ContentType="image/png"/>'
        b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
        b'officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    rels = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
    )
    document = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        b"<w:body><w:p><w:r><w:t>Hello</w:t></w:r></w:p></w:body></w:document>"
    )
    members = [
        ("[Content_Types].xml", content_types),
        ("_rels/.rels", rels),
        ("word/document.xml", document),
    ]
    return zip_of(members + ([("word/media/image1.png", picture)] if picture else []))


def xlsx(picture: bytes) -> bytes:
    """A minimal Excel workbook as Excel writes it: [Content_Types].xml first."""
    main = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{main}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{main}.worksheet+xml"/>'
        "</Types>"
    ).encode()
    rels = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    workbook = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        b'<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    workbook_rels = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    )
    sheet = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row r="1"><c r="A1"><v>42</v></c></row></sheetData></worksheet>'
    )
    members = [
        ("[Content_Types].xml", content_types),
        ("_rels/.rels", rels),
        ("xl/workbook.xml", workbook),
        ("xl/_rels/workbook.xml.rels", workbook_rels),
        ("xl/worksheets/sheet1.xml", sheet),
    ]
    return zip_of(members + ([("xl/media/image1.png", picture)] if picture else []))


def elf() -> bytes:
    """An x86-64 ELF executable header (ET_EXEC) with one PT_LOAD program header."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 1, 64, 0, 0
    )
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, 0x1000, 0x1000, 0x1000)
    return header + program


def pe() -> bytes:
    """A DOS 'MZ' stub pointing at a PE32+ x86-64 console executable header."""
    dos = bytearray(0x80)
    dos[0:2] = b"MZ"
    dos[0x3C:0x40] = struct.pack("<I", 0x80)
    dos[0x40 : 0x40 + 39] = b"This program cannot be run in DOS mode."
    coff = b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, 0xF0, 0x22)
    optional = bytearray(0xF0)
    optional[0:2] = struct.pack("<H", 0x20B)  # PE32+
    optional[0x44:0x46] = struct.pack("<H", 3)  # console subsystem
    section = b".text\x00\x00\x00" + struct.pack(
        "<IIIIIIHHI", 0x1000, 0x1000, 0x200, 0x200, 0, 0, 0, 0, 0x60000020
    )
    return bytes(dos) + coff + bytes(optional) + section


if __name__ == "__main__":
    main()
