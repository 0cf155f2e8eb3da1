"""Write synthetic AMA CPT, CMS HCPCS and PPRRVU files in the vendors' layouts (synthetic codes and text)."""

from __future__ import annotations

from pathlib import Path

NOTICE = ["Synthetic notice: test data only, not AMA content.", "Second synthetic notice line."]

BASE = {
    "Z9001": "Synthetic procedure one, long descriptor",
    "Z9002": "Synthetic procedure two, long descriptor",
    "Z9003": "Synthetic procedure three, long descriptor",
    "Z001F": "Synthetic category two measure",
}

MODUL = """Synthetic modifier notice (test data only).

Appendix A

Synthetic introduction text about modifiers.

26 Synthetic Professional Component: synthetic definition of the professional part,
continued on a second line.

59 Synthetic Distinct Service: synthetic definition of a distinct service.

Anesthesia Physical Status

Physical Status Modifier P1: Synthetic physical status one

CPT Level I Modifiers

Synthetic text about hospital outpatient use.

59 Synthetic Distinct Service: synthetic definition of a distinct service.

Category II Modifiers

1P Synthetic exclusion for medical reasons

Level II (HCPCS/National) Modifiers

TC Synthetic technical component
"""


def write_cpt_release(
    folder: Path,
    base: dict[str, str] | None = None,
    *,
    optional: bool = True,
    deleted: bool = True,
    nested: bool = True,
) -> Path:
    """Write an AMA-like distribution folder; return it. ``optional=False`` leaves out the optional files."""
    base = BASE if base is None else base
    standard = folder / "standard" if nested else folder
    standard.mkdir(parents=True, exist_ok=True)
    header = "\n".join(NOTICE) + "\n\n"
    (standard / "LONGULT.txt").write_text(header + "".join(f"{c}\t{t}\n" for c, t in base.items()))
    (standard / "MEDU.txt").write_text(header + "".join(f"{c} {t.upper()[:48]}\n" for c, t in base.items()))
    (standard / "SHORTU.txt").write_text(
        header + "".join(f"{c} {t.upper()[:28]:<28}\n" for c, t in base.items())
    )
    (standard / "MODUL.txt").write_text(MODUL)
    if optional:
        (standard / "LONGUT.txt").write_text(header + "".join(f"{c}\t{t.upper()}\n" for c, t in base.items()))
        consumer = standard / "Consumer Friendly Descriptors"
        consumer.mkdir(exist_ok=True)
        (consumer / "ConsumerDescriptor.txt").write_text(
            "Concept Id\tCPT Code\tConsumer Friendly Descriptor\n"
            + "".join(f"{1000 + i}\t{c}\tSynthetic consumer text {i}\n" for i, c in enumerate(base))
        )
        clinician = standard / "Clinician Descriptors"
        clinician.mkdir(exist_ok=True)
        first = next(iter(base))
        (clinician / "ClinicianDescriptor.txt").write_text(
            "Concept Id\tCPT Code\tClinician Descriptor Id\tClinician Descriptor\n"
            f"1000\t{first}\t5001\tSynthetic clinician text A\n"
            f"1000\t{first}\t5002\tSynthetic clinician text B\n"
        )
    if deleted:
        history = folder / "CPT Link" / "history"
        history.mkdir(parents=True, exist_ok=True)
        (history / "Deleted_DTK_tab.txt").write_text(
            "Synthetic deleted codes\n"
            "Concept Id\tCPT Code\tDate Deleted\tLevel\tDescription\n"
            "1009\tZ9009\t20250101\t1\tSynthetic deleted procedure nine\n"
        )
    return folder


def hcpcs_record(
    code: str,
    recid: str,
    long: str,
    short: str = "",
    add: str = "",
    act: str = "",
    term: str = "",
    action: str = "",
    seq: str = "00100",
) -> str:
    """Build one 320-character record of the CMS HCPCS fixed-width file."""
    line = [" "] * 320

    def put(start: int, text: str) -> None:
        line[start - 1 : start - 1 + len(text)] = list(text)

    put(1, code.rjust(5))  # a modifier is right-aligned in positions 4-5
    put(6, seq)
    put(11, recid)
    put(12, long[:80])
    put(92, short[:28])
    put(269, add)
    put(277, act)
    put(285, term)
    put(293, action)
    return "".join(line).rstrip()


def write_hcpcs_text(path: Path) -> Path:
    """Write a synthetic HCPCS fixed-width file: two procedures (one terminated), a modifier."""
    records = [
        hcpcs_record("ZZ001", "3", "Synthetic supply one, first part of its long", "SYNTH SUPPLY ONE",
                     "20200101", "20260101", "", "N"),
        hcpcs_record("ZZ001", "4", "description continued"),
        hcpcs_record("ZZ002", "3", "Synthetic supply two", "SYNTH SUPPLY TWO", "20200101", "20261001",
                     "20261231", "D"),
        hcpcs_record("ZZ", "7", "Synthetic modifier zz", "SYNTH MOD ZZ", "20200101", "20200101", "", "N"),
    ]  # fmt: skip
    path.write_text("\n".join(records) + "\n")
    return path


XLSX_HEADER = [
    "HCPC", "SEQNUM", "RECID", "LONG DESCRIPTION", "SHORT DESCRIPTION", "PRICE1", "ADD DT", "ACT EFF DT",
    "TERM DT", "ACTION CD",
]  # fmt: skip


def write_hcpcs_xlsx(path: Path) -> Path:
    """Write a synthetic HCPCS xlsx (one row per code, a subset of the CMS columns)."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(XLSX_HEADER)
    sheet.append(
        ["ZZ001", "00100", 3, "Synthetic supply one", "SYNTH SUPPLY ONE", "", 20200101, 20260101, None, "N"]
    )
    sheet.append(["ZZ002", "00100", 3, "Synthetic supply two", "SYNTH SUPPLY TWO", "", "20200101", "20261001",
                  "20261231", "D"])  # fmt: skip
    sheet.append(
        ["   ZZ", "00100", 7, "Synthetic modifier zz", "SYNTH MOD ZZ", "", 20200101, 20200101, None, "N"]
    )
    workbook.save(path)
    return path


PPRRVU_CAPTIONS = [
    ",,Synthetic National Physician Fee Schedule Relative Value File (test data)" + "," * 29,
    ",,Synthetic copyright line" + "," * 29,
    "," * 31,
    ",,,STATUS,,WORK,,,,,,,,PCTC,GLOB" + "," * 17,
    "HCPCS,MOD,DESCRIPTION,CODE,PAYMENT,RVU,PE RVU,INDICATOR,PE RVU,INDICATOR,RVU,TOTAL,TOTAL,IND,DAYS"
    + "," * 17,
]


def pprrvu_row(code: str, modifier: str, indicator: str) -> str:
    """Build one PPRRVU CSV row with the PC/TC indicator in the 14th column."""
    cells = [code, modifier, "SYNTHETIC", "A", "", "1.00", "1.00", "", "1.00", "", "0.10", "2.10", "2.10",
             indicator, "XXX"] + [""] * 17  # fmt: skip
    return ",".join(cells)


def write_pprrvu(path: Path, rows: list[tuple[str, str, str]] | None = None) -> Path:
    """Write a synthetic PPRRVU CSV: captions, the two-row header, then rows (code, modifier, indicator)."""
    rows = rows or [
        ("Z9001", "", "1"),
        ("Z9001", "26", "1"),
        ("Z9001", "TC", "1"),
        ("Z9002", "", "2"),
        ("Z9003", "", "6"),
        ("ZZ001", "", "3"),
    ]
    path.write_text("\n".join(PPRRVU_CAPTIONS + [pprrvu_row(*r) for r in rows]) + "\n")
    return path
