"""Write a full-size synthetic NCCI PTP edition (4 parts, CMS layout) and MUE table (synthetic codes only)."""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

PREAMBLE = [
    "Synthetic benchmark data \xa9 not CMS data.\t\t\t\t\t\t",
    "Column1/Column2 Edits\t\t\t\t\t\t",
    "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale",
    "\t\tprior to 1996\tDate\tDate\t0=not allowed\t",
    "\t\t\t\t*=no data\t1=allowed\t",
    "\t\t\t\t\t9=not applicable\t",
]
RATIONALES = [
    "Synthetic rationale A",
    "Synthetic rationale B",
    "Synthetic rationale C",
    "Synthetic rationale D",
    "Synthetic rationale E",
]
MAI_LABELS = {1: "1 Line Edit", 2: "2 Date of Service Edit: Policy", 3: "3 Date of Service Edit: Clinical"}
EDITION = "v322r0"  # 2026 Q3


def codes(count: int) -> list[str]:
    """Return ``count`` synthetic 5-character codes (letters V-Z then 4 digits)."""
    return [f"{'VWXYZ'[i // 10000]}{i % 10000:04d}" for i in range(count)]


def write_ptp(out: Path, rows: int, parts: int, seed: int) -> list[Path]:
    """Write ``rows`` edits over ``parts`` files, column 1 ascending like the CMS parts."""
    rng = random.Random(seed)
    universe = codes(20_000)
    per_col1 = rows // len(universe)
    extra = rows - per_col1 * len(universe)
    per_part = -(-rows // parts)
    paths, handle, written, part = [], None, 0, 0
    for index, col1 in enumerate(universe):
        count = per_col1 + (1 if index < extra else 0)
        for col2 in sorted(rng.sample(universe, count)):
            if handle is None or (written >= per_part * part and part < parts):
                if handle is not None:
                    handle.close()
                part += 1
                path = out / f"ccipra-{EDITION}-f{part}.TXT"
                paths.append(path)
                handle = open(path, "w", encoding="latin-1", newline="")  # noqa: SIM115 (one per part)
                handle.write("\r\n".join(PREAMBLE) + "\r\n")
            roll = rng.random()
            if roll < 0.15:
                effective, deletion, indicator = "20200101", "20200101", "9"
            elif roll < 0.35:
                effective, deletion, indicator = "20150101", "20231231", rng.choice("01")
            else:
                effective, deletion, indicator = (
                    rng.choice(("19960101", "20100101", "20220401")),
                    "*",
                    rng.choice("01"),
                )
            prior = "*" if effective == "19960101" else ""
            handle.write(
                f"{col1}\t{col2}\t{prior}\t{effective}\t{deletion}\t{indicator}\t{rng.choice(RATIONALES)}\r\n"
            )
            written += 1
    handle.close()
    return paths


def write_mue(out: Path, rows: int, seed: int) -> Path:
    """Write an MUE CSV in the CMS layout with ``rows`` codes."""
    rng = random.Random(seed + 1)
    path = out / "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv"
    with open(path, "w", encoding="latin-1", newline="") as handle:
        handle.write('"Synthetic benchmark notice \xae.\r\n\r\nNot CMS data.",,,\r\n')
        handle.write(
            '"HCPCS/\r\nCPT Code",Practitioner Services MUE Values,MUE Adjudication Indicator,'
            "MUE Rationale\r\n"
        )
        for code in codes(rows):
            mai = rng.choice((1, 2, 3, 3))
            handle.write(f"{code},{rng.randint(1, 4)},{MAI_LABELS[mai]},Synthetic rationale\r\n")
    return path


def main() -> None:
    """Parse arguments and write the files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=2_600_000)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--mue-rows", type=int, default=15_000)
    parser.add_argument("--seed", type=int, default=20260701)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    paths = write_ptp(args.out, args.rows, args.parts, args.seed)
    mue = write_mue(args.out, args.mue_rows, args.seed)
    print(f"wrote {len(paths)} PTP parts and {mue.name} in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
