"""Content sniffing: what the bytes are, and whether the declared type is consistent with it."""

from __future__ import annotations

import io
import random
import struct
import sys
import zipfile
import zlib

import magic
import pytest

from filedock.core.sniffing import (
    DOCX,
    EMPTY,
    EXECUTABLES,
    SCRIPT,
    SNIFF_BYTES,
    XLSX,
    detect_type,
    executable_signature,
    type_agrees,
)

ELF_EXECUTABLE = "application/x-executable"
DOSEXEC = "application/x-dosexec"


def elf() -> bytes:
    """An x86-64 ELF executable header (ET_EXEC) with one PT_LOAD program header."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    fields = (2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    header = ident + struct.pack("<HHIQQQIHHHHHH", *fields)
    load = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, 0x1000, 0x1000, 0x1000)
    return header + load


def pe() -> bytes:
    """A DOS 'MZ' stub whose e_lfanew points at a PE32+ x86-64 console executable header."""
    dos = bytearray(0x80)
    dos[0:2] = b"MZ"
    dos[0x3C:0x40] = struct.pack("<I", 0x80)
    coff = b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, 0xF0, 0x22)
    optional = bytearray(0xF0)
    optional[0:2] = struct.pack("<H", 0x20B)
    optional[0x44:0x46] = struct.pack("<H", 3)
    section = b".text\x00\x00\x00" + struct.pack(
        "<IIIIIIHHI", 0x1000, 0x1000, 0x200, 0x200, 0, 0, 0, 0, 0x60000020
    )
    return bytes(dos) + coff + bytes(optional) + section


def pdf() -> bytes:
    body = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    body += b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    return body + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def zip_of(*members: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


CONTENT_TYPES = ("[Content_Types].xml", b'<?xml version="1.0"?><Types/>')
RELS = ("_rels/.rels", b'<?xml version="1.0"?><Relationships/>')


def docx(*extra: tuple[str, bytes]) -> bytes:
    """A minimal Word document, members in the order Word writes them."""
    document = ("word/document.xml", b'<?xml version="1.0"?><w:document/>')
    return zip_of(CONTENT_TYPES, RELS, document, *extra)


def xlsx() -> bytes:
    workbook = ("xl/workbook.xml", b'<?xml version="1.0"?><workbook/>')
    sheet = ("xl/worksheets/sheet1.xml", b'<?xml version="1.0"?><worksheet/>')
    return zip_of(CONTENT_TYPES, RELS, workbook, sheet)


def plain_zip() -> bytes:
    return zip_of(("notes.txt", b"hello\n"), ("data/numbers.csv", b"a,b\n1,2\n"))


CSV = b"id,name,amount\n1,Ada,3.50\n2,Grace,7.25\n3,Edsger,1.00\n"
TEXT = "Grüße aus Köln; 東京の天気は晴れ.\nA second line.\n".encode()
HTML = b"<!DOCTYPE html>\n<html><head><title>x</title></head><body><p>hi</p></body></html>\n"


@pytest.mark.parametrize(
    ("executable", "detected"), [(elf(), ELF_EXECUTABLE), (pe(), DOSEXEC)], ids=["elf", "pe"]
)
def test_a_pdf_named_executable_is_detected_as_an_executable_and_does_not_agree_with_pdf(
    executable: bytes, detected: str
) -> None:
    assert detect_type(executable, "invoice.pdf") == detected
    assert not type_agrees("application/pdf", detected)


def test_a_real_pdf_is_detected_and_agrees_with_application_pdf() -> None:
    detected = detect_type(pdf(), "invoice.pdf")
    assert detected == "application/pdf"
    assert type_agrees("application/pdf", detected)


def test_an_executable_agrees_only_with_an_executable_declared_type() -> None:
    assert type_agrees("application/x-executable", detect_type(elf(), None))
    assert type_agrees("application/x-msdownload", detect_type(pe(), None))
    for declared in ("application/octet-stream", "text/plain", "image/png", "application/zip"):
        assert not type_agrees(declared, detect_type(elf(), None)), declared
        assert not type_agrees(declared, detect_type(pe(), None)), declared


@pytest.mark.parametrize(
    ("document", "kind"), [(docx(), DOCX), (xlsx(), XLSX)], ids=["docx", "xlsx"]
)
def test_office_documents_are_detected_exactly_and_agree_with_their_type(
    document: bytes, kind: str
) -> None:
    assert detect_type(document, None) == kind
    assert type_agrees(kind, kind)
    assert type_agrees("application/zip", kind)
    assert not type_agrees(DOCX if kind == XLSX else XLSX, kind)


def test_a_large_docx_is_detected_from_a_head_that_misses_the_central_directory() -> None:
    picture = ("word/media/image1.png", random.Random(1).randbytes(2 * SNIFF_BYTES))
    document = docx(picture)
    assert detect_type(document[:SNIFF_BYTES], None) == DOCX


def test_an_xlsx_whose_content_types_part_comes_last_is_still_an_xlsx() -> None:
    # openpyxl's order: document properties first, [Content_Types].xml at the very end.
    workbook = zip_of(
        ("docProps/app.xml", b"<Properties/>"),
        ("xl/worksheets/sheet1.xml", b"<worksheet/>"),
        ("xl/workbook.xml", b"<workbook/>"),
        CONTENT_TYPES,
    )
    assert detect_type(workbook, "report.xlsx") == XLSX


def test_a_plain_zip_renamed_to_docx_is_a_zip_and_does_not_agree_with_docx() -> None:
    detected = detect_type(plain_zip(), "contract.docx")
    assert detected == "application/zip"
    assert not type_agrees(DOCX, detected)
    assert type_agrees("application/zip", detected)


def test_a_zip_holding_a_stored_docx_is_a_zip_not_a_docx() -> None:
    archive = zip_of(("contract.docx", docx()), method=zipfile.ZIP_STORED)
    assert detect_type(archive, None) == "application/zip"


@pytest.mark.parametrize("body", [CSV, TEXT], ids=["csv", "utf8-text"])
@pytest.mark.parametrize("declared", ["text/csv", "text/plain"])
def test_csv_and_plain_text_agree_with_text_csv_and_text_plain(body: bytes, declared: str) -> None:
    assert detect_type(body, None) == "text/plain"
    assert type_agrees(declared, detect_type(body, None))


def test_text_named_csv_is_detected_as_csv_but_a_name_never_changes_what_the_bytes_are() -> None:
    assert detect_type(CSV, "DATA.CSV") == "text/csv"
    assert type_agrees("text/plain", "text/csv")
    assert detect_type(elf(), "data.csv") == ELF_EXECUTABLE


def test_libmagics_guesses_about_texts_shape_or_language_are_plain_text() -> None:
    one_comma_a_line = b"Hello, world\n" * 6000  # libmagic calls this CSV
    c_like = b"#include <stdio.h>\nint main(void) { return 0; }\n"  # and this C
    assert detect_type(one_comma_a_line, None) == "text/plain"
    assert detect_type(c_like, None) == "text/plain"


def test_utf8_text_with_a_byte_order_mark_is_plain_text() -> None:
    detected = detect_type(b"\xef\xbb\xbf" + TEXT, "notes.txt")
    assert detected == "text/plain"
    assert type_agrees("text/plain", detected)


def test_valid_utf8_without_control_bytes_is_text_even_where_libmagic_calls_it_data() -> None:
    # libmagic refuses DEL (0x7f) in text; our rule is only "valid UTF-8, no control bytes".
    assert detect_type(b"name\x7fvalue\n", None) == "text/plain"


def test_a_head_cut_inside_a_character_is_still_text_but_a_whole_file_ending_so_is_not() -> None:
    # With a DEL byte, so that the answer is ours and not libmagic's.
    text = b"name\x7fvalue\n" * SNIFF_BYTES
    cut = text[: SNIFF_BYTES - 1] + "é".encode()[:1]  # the first byte of a two-byte character
    assert detect_type(cut, None) == "text/plain"
    assert detect_type(cut[-1000:], None) == "application/octet-stream"


def test_only_the_first_64_kib_are_looked_at() -> None:
    assert detect_type(b"a" * SNIFF_BYTES + b"\x00\x01\x02", None) == "text/plain"


def test_text_in_other_encodings_that_libmagic_recognises_is_plain_text() -> None:
    # Notepad's "Unicode" and Excel's "Unicode text" are UTF-16; older exports are Latin-1.
    utf16 = "ünïcödé, text\n".encode("utf-16")
    latin1 = "id;ville\n1;Orléans\n".encode("latin-1")
    assert detect_type(utf16, None) == "text/plain"
    assert type_agrees("text/csv", detect_type(latin1, "villes.csv"))


@pytest.mark.parametrize(
    "garbage",
    [random.Random(7).randbytes(4096), b"plain words\x00then a NUL\n", b"\x01\x02\x03 abc"],
    ids=["random", "nul-in-text", "control-bytes"],
)
def test_binary_data_declared_as_plain_text_does_not_agree(garbage: bytes) -> None:
    detected = detect_type(garbage, "notes.txt")
    assert detected == "application/octet-stream"
    assert not type_agrees("text/plain", detected)
    assert not type_agrees("text/csv", detected)


@pytest.mark.parametrize(
    "declared", ["Text/CSV; charset=UTF-8", "TEXT/PLAIN;charset=utf-8", " text/plain "]
)
def test_declared_type_parameters_case_and_spaces_are_ignored(declared: str) -> None:
    assert type_agrees(declared, detect_type(CSV, None))


def test_declared_aliases_are_the_same_type() -> None:
    assert type_agrees("APPLICATION/X-PDF", "application/pdf")
    assert type_agrees("application/x-zip-compressed", "application/zip")
    assert type_agrees("application/vnd.microsoft.portable-executable", DOSEXEC)


def test_an_empty_file_is_empty_and_agrees_only_with_text_types() -> None:
    assert detect_type(b"", "empty.pdf") == EMPTY
    assert type_agrees("text/plain", EMPTY)
    assert type_agrees("text/csv; charset=utf-8", EMPTY)
    for declared in ("application/pdf", "image/png", DOCX, "application/zip"):
        assert not type_agrees(declared, EMPTY), declared


def test_html_is_detected_as_html_and_must_be_declared_as_html_not_plain_text() -> None:
    # The rule: text/plain promises text nothing acts on. HTML, XML, SVG and scripts are
    # refused under that label so a policy that allows text/plain but not text/html cannot
    # be passed by relabelling; declared as text/html they agree (and are served as
    # attachments).
    detected = detect_type(HTML, "page.txt")
    assert detected == "text/html"
    assert not type_agrees("text/plain", detected)
    assert type_agrees("text/html; charset=utf-8", detected)


def test_text_with_a_tag_but_no_html_marker_is_plain_text() -> None:
    detected = detect_type(b"Use <b>bold</b> sparingly.\n", None)
    assert detected == "text/plain"
    assert type_agrees("text/plain", detected)
    assert type_agrees("text/html", detected)


def test_a_shell_script_is_a_script_and_does_not_agree_with_text_plain() -> None:
    detected = detect_type(b"#!/bin/sh\nset -eu\necho hello\n", "readme.txt")
    assert detected == "text/x-shellscript"
    assert not type_agrees("text/plain", detected)


def test_raster_images_agree_by_family_but_svg_only_with_svg() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"><rect/></svg>\n'
    assert detect_type(png(), None) == "image/png"
    assert type_agrees("image/jpeg", "image/png")
    assert type_agrees("image/jpg", "image/png")
    assert detect_type(svg, "icon.png") == "image/svg+xml"
    assert not type_agrees("image/png", "image/svg+xml")
    assert not type_agrees("image/svg+xml", "image/png")
    assert type_agrees("image/svg+xml", "image/svg+xml")


def test_octet_stream_declared_agrees_with_anything_but_an_executable() -> None:
    assert type_agrees("application/octet-stream", "application/gzip")
    assert type_agrees("application/octet-stream", "text/plain")
    assert not type_agrees("application/octet-stream", ELF_EXECUTABLE)


def test_an_unknown_declared_type_agrees_only_with_itself() -> None:
    assert type_agrees("Application/X-Foo; v=1", "application/x-foo")
    assert not type_agrees("application/x-foo", "text/plain")
    assert not type_agrees("application/x-foo", "application/octet-stream")


# Executables are known by their signatures, never by libmagic's guesses --------------------

# The first bytes of DOS COM programs' usual first instructions (mov, jmp near, jmp short,
# mov from a segment register); libmagic guesses "a COM program" for data starting so.
COM_GUESS_BYTES = (0xB8, 0xE9, 0xEB, 0x8C)


def test_random_data_is_never_detected_as_an_executable() -> None:
    # As random as encrypted or compressed data; libmagic alone called 1 % of these programs.
    detected = {n: detect_type(random.Random(n).randbytes(4096), None) for n in range(5000)}
    assert {n: kind for n, kind in detected.items() if kind in EXECUTABLES} == {}


@pytest.mark.parametrize("first", COM_GUESS_BYTES, ids=[hex(b) for b in COM_GUESS_BYTES])
def test_data_that_libmagic_takes_for_a_dos_com_program_is_not_an_executable(first: int) -> None:
    buffers = [bytes([first]) + random.Random(n).randbytes(4095) for n in range(150)]
    guessed = [b for b in buffers if magic.from_buffer(b, mime=True) == DOSEXEC]
    assert guessed, "libmagic no longer guesses COM programs here: the test checks nothing"
    for buffer in guessed:
        detected = detect_type(buffer, "backup.bin")
        assert detected not in EXECUTABLES
        assert type_agrees("application/octet-stream", detected)


def python_interpreter() -> bytes:
    with open(sys.executable, "rb") as program:
        return program.read(SNIFF_BYTES)


def dos_exe() -> bytes:
    """A DOS 'MZ' executable without a PE header behind it: one page, no relocations."""
    header = struct.pack(
        "<2sHHHHHHHHHHHHH", b"MZ", 0x90, 1, 0, 4, 0, 0xFFFF, 0, 0xB8, 0, 0, 0, 0x40, 0
    )
    return header + bytes(64 - len(header)) + b"\xb4\x4c\xcd\x21"  # mov ah,4Ch; int 21h


def mach_o() -> bytes:
    """A 64-bit little-endian Mach-O executable header for arm64 (MH_EXECUTE, no commands)."""
    return struct.pack("<IiiIIIII", 0xFEEDFACF, 0x0100000C, 0, 2, 0, 0, 0, 0)


def fat_mach_o() -> bytes:
    """A universal binary holding two architectures (the header is big-endian)."""
    return struct.pack(">II", 0xCAFEBABE, 2) + struct.pack(">iiIII", 0x01000007, 3, 4096, 0, 12) * 2


def java_class() -> bytes:
    """A class file of Java 8 (major version 52): the same magic number as a fat Mach-O."""
    return struct.pack(">IHHH", 0xCAFEBABE, 0, 52, 1) + bytes(32)


@pytest.mark.parametrize(
    "program",
    [python_interpreter(), pe(), dos_exe(), elf(), mach_o(), fat_mach_o(), java_class()],
    ids=["python-interpreter", "pe", "dos-exe", "elf", "mach-o", "fat-mach-o", "java-class"],
)
def test_programs_with_a_signature_are_executables_and_agree_only_with_executable_types(
    program: bytes,
) -> None:
    detected = detect_type(program, "photo.jpg")
    assert detected in EXECUTABLES
    for declared in ("application/octet-stream", "application/pdf", "image/jpeg", "text/plain"):
        assert not type_agrees(declared, detected), declared


def test_a_java_class_and_a_fat_mach_o_are_told_apart_by_what_follows_the_magic_number() -> None:
    assert executable_signature(java_class()) == "application/x-java-applet"
    assert executable_signature(fat_mach_o()) == "application/x-mach-binary"
    assert type_agrees("application/java-vm", detect_type(java_class(), "Main.class"))


@pytest.mark.parametrize(
    "script",
    [b"#!/usr/bin/env node\nconsole.log(1)\n", b"#!/opt/tools/bin/runner\nstep one\n"],
    ids=["node", "unknown-interpreter"],
)
def test_any_text_starting_with_a_shebang_is_a_script_not_plain_text(script: bytes) -> None:
    detected = detect_type(script, "notes.txt")
    assert detected != "text/plain"
    assert not type_agrees("text/plain", detected)
    assert not type_agrees("text/csv", detected)


def test_a_script_libmagic_cannot_name_is_called_a_script() -> None:
    assert detect_type(b"#!/opt/tools/bin/runner\nstep one\n", None) == SCRIPT
