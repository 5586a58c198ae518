#!/usr/bin/env python3
"""Checks README.md's table "Configuration shared by every binary" against the binaries.

    check_flags_table.py README.md OPERATOR WEBHOOK AGENT

--help and --version (every binary and subcommand has both) are left out. Runs
`orderguard-operator --help`, `orderguard-webhook --help` and `orderguard-agent run --help`
(CLI11's help), and fails when
  - a flag two or more of them have is not a row of the table, or a row is a flag fewer than
    two have (the table is exactly the shared flags);
  - a cell says a binary has the flag and it has not, or the other way round ("—": it has not);
  - a default differs: a cell `x` means --help shows =x; "none" means it shows no default;
    `off` and `on` are switches (on: with a --no- form).
"""
import re
import subprocess
import sys

HEADING = "## Configuration shared by every binary"
ABSENT = {"—", "-", ""}


def help_flags(argv):
    """{flag: default} from CLI11's --help of argv. CLI11 prints an option as
    `--name TYPE=default` (`--kube-api-qps FLOAT:NONNEGATIVE=20`, `--interval DURATION=30s`),
    without `=` when it has no default, and a switch as its names alone
    (`--hidden,--no-hidden{false}`); the default of a switch is "off", or "on" when it has a
    `--no-` form."""
    out = subprocess.run(argv + ["--help"], capture_output=True, text=True, check=True).stdout
    flags = {}
    for line in out.splitlines():
        if not re.match(r"^\s{2}-", line):
            continue
        first, _, rest = line.strip().partition(" ")
        names = [re.sub(r"\{.*\}$", "", n) for n in first.split(",")]
        # TYPE (a range validator adds " in [1 - 64]"), then =default; else a description.
        typed = re.match(r"^([A-Z][^=\s]*(?: in \[[^\]]*\])?)(?:=(\S+))?", rest)
        if typed:
            default = typed.group(2)
        else:
            negated = any(n.startswith("--no-") for n in names)
            default = "on" if negated else "off"
        for name in names:
            if name.startswith("--") and name not in ("--help", "--version") and not (
                    name.startswith("--no-") and "--" + name[5:] in names):
                flags[name] = default
    return flags


def readme_table(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    start = lines.index(HEADING)
    table = []
    for l in lines[start + 1:]:
        if l.startswith("#"):
            break
        if l.startswith("|"):
            table.append([c.strip() for c in l.strip().strip("|").split("|")])
        elif table:
            break
    header, body = table[0], table[2:]
    return header, body


def main():
    readme, operator, webhook, agent = sys.argv[1:5]
    binaries = {
        "`orderguard-operator`": help_flags([operator]),
        "`orderguard-webhook`": help_flags([webhook]),
        "`orderguard-agent run`": help_flags([agent, "run"]),
    }
    header, body = readme_table(readme)
    columns = header[1:1 + len(binaries)]
    errors = []
    if columns != list(binaries):
        errors.append(f"table columns {columns}, expected {list(binaries)}")
    rows = {}
    for row in body:
        flag = row[0].strip("`")
        rows[flag] = row
    shared = {f for b in binaries.values() for f in b
              if sum(f in other for other in binaries.values()) >= 2}
    for flag in sorted(shared - set(rows)):
        errors.append(f"{flag}: shared by several binaries but not in the table")
    for flag in sorted(set(rows) - shared):
        errors.append(f"{flag}: in the table but not shared by two binaries")
    for flag, row in rows.items():
        for column, cell in zip(columns, row[1:]):
            have = binaries.get(column, {})
            if cell in ABSENT:
                if flag in have:
                    errors.append(f"{flag}: the table says {column} has no such flag; it has")
                continue
            if flag not in have:
                errors.append(f"{flag}: the table says {column} has it; it has not")
                continue
            want = None if cell == "none" else cell.strip("`")
            if have[flag] != want:
                errors.append(f"{flag}: {column} default in the table {want!r}, "
                              f"--help shows {have[flag]!r}")
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print(f"{len(rows)} shared flags match README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
