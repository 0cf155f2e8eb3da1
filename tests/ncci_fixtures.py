"""Synthetic NCCI files in the exact CMS layouts (synthetic codes only), and request builders."""

from __future__ import annotations

import zipfile
from pathlib import Path

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
PTP_PREAMBLE = [
    "Synthetic test fixture \xa9 not CMS data.\t\t\t\t\t\t",
    "Column1/Column2 Edits\t\t\t\t\t\t",
    "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale",
    "\t\tprior to 1996\tDate\tDate\t0=not allowed\t",
    "\t\t\t\t*=no data\t1=allowed\t",
    "\t\t\t\t\t9=not applicable\t",
]
MUE_NOTICE = (
    '"Synthetic test fixture \xae: not CMS data. \n\nSecond paragraph of the notice. \n\n'
    'Third paragraph, with a comma, inside the quotes.",,,'
)
MUE_COLUMNS = {
    "practitioner": "Practitioner Services MUE Values",
    "outpatient": "Outpatient Hospital Services MUE Values",
    "dme": "DME Supplier Services MUE Values",
}
MAI_LABELS = {1: "1 Line Edit", 2: "2 Date of Service Edit: Policy", 3: "3 Date of Service Edit: Clinical"}


def ptp_row(
    col1,
    col2,
    effective="20200101",
    deletion="*",
    indicator=1,
    rationale="Mutually exclusive procedures",
    prior="",
):
    """Return one PTP line (7 tab-separated fields)."""
    return "\t".join([col1, col2, prior, effective, deletion, str(indicator), rationale])


def write_ptp(path: Path, rows: list[str]) -> Path:
    """Write a PTP .TXT as CMS ships it: Latin-1, CRLF, 6-line preamble, then rows."""
    path.write_bytes(("\r\n".join([*PTP_PREAMBLE, *rows]) + "\r\n").encode("latin-1"))
    return path


def write_ptp_zip(path: Path, inner_name: str, rows: list[str]) -> Path:
    """Write a CMS-style zip holding one PTP .TXT part."""
    text = ("\r\n".join([*PTP_PREAMBLE, *rows]) + "\r\n").encode("latin-1")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(inner_name, text)
        archive.writestr("ReadMe - synthetic.txt".replace(".txt", ".pdf"), b"%PDF synthetic")
    return path


def mue_row(code: str, value: int, mai: int, rationale: str = "Clinical: Data") -> str:
    """Return one MUE CSV record."""
    return f"{code},{value},{MAI_LABELS[mai]},{rationale}"


def write_mue(path: Path, rows: list[str], setting: str = "practitioner") -> Path:
    """Write an MUE CSV as CMS ships it: quoted multi-line notice, header with an embedded newline."""
    header = f'"HCPCS/\nCPT Code",{MUE_COLUMNS[setting]},MUE Adjudication Indicator,MUE Rationale'
    text = "\r\n".join([MUE_NOTICE.replace("\n", "\r\n"), header.replace("\n", "\r\n"), *rows]) + "\r\n"
    path.write_bytes(text.encode("latin-1"))
    return path


def item(seq, code, *modifiers, quantity=1, provider=None, date=None, system=CPT) -> dict:
    """Build one `item` parameter of $bundling-check."""
    parts: list[dict] = [
        {"name": "sequence", "valueInteger": seq},
        {"name": "code", "valueCoding": {"system": system, "code": code}},
        {"name": "quantity", "valueInteger": quantity},
    ]
    for modifier in modifiers:
        mod_system = HCPCS if modifier[0].isalpha() else CPT
        parts.append({"name": "modifier", "valueCoding": {"system": mod_system, "code": modifier}})
    if date:
        parts.append({"name": "servicedDate", "valueDate": date})
    if provider:
        parts.append({"name": "provider", "valueString": provider})
    return {"name": "item", "part": parts}


def check_body(*items: dict, date: str = "2026-07-15", **extra) -> dict:
    """Build a Parameters body with items and a top-level date."""
    params = [{"name": "date", "valueDate": date}, *items]
    for name, value in extra.items():
        params.append({"name": name, "valueString": value})
    return {"resourceType": "Parameters", "parameter": params}


def findings(body: dict, rule: str | None = None) -> list[dict]:
    """Return the finding parts of a response as {name: value or [values]} dicts."""
    out = []
    for param in body["parameter"]:
        if param["name"] != "finding":
            continue
        flat: dict = {}
        for part in param["part"]:
            value = next((v for k, v in part.items() if k.startswith("value")), part.get("part"))
            if part["name"] in ("line", "code", "source"):
                flat.setdefault(part["name"], []).append(value)
            else:
                flat[part["name"]] = value
        if rule is None or flat["rule"] == rule:
            out.append(flat)
    return out


def ncci_data_dir(tmp_path: Path, ptp_rows: list[str], mue_rows: list[str] = ()) -> Path:
    """Import synthetic PTP (v322r0, 2026 Q3) and MUE rows into a fresh data directory."""
    from terminology.ncci.index import import_mue, import_ptp

    data = tmp_path / "data"
    import_ptp(data, [write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", ptp_rows)])
    if mue_rows:
        import_mue(data, write_mue(tmp_path / "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv", mue_rows))
    return data
