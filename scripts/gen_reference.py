#!/usr/bin/env python3
"""Writes docs/REFERENCE.md: every CRD field (from crds/*.yaml, the single
source) and every Helm value (from charts/orderguard/values.yaml and
values.schema.json). Run after changing either: python3 scripts/gen_reference.py
(needs PyYAML: apt-get install python3-yaml). With --check it writes nothing
and fails when docs/REFERENCE.md is not what it would write (CTest
reference_test)."""
import json
import pathlib
import re
import sys
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def md(text):
    """Text for a Markdown table cell: "<name>" would be read as an HTML tag."""
    return re.sub(r"<(?=[A-Za-z/])", "&lt;", text).replace("|", "\\|")


def walk(schema, path, rows, rules, required=()):
    for r in schema.get("x-kubernetes-validations", []):
        where = path + r.get("fieldPath", "") if r.get("fieldPath") else path
        rules.append((where, r))
    props = schema.get("properties", {})
    req = set(schema.get("required", []))
    for name, sub in props.items():
        p = f"{path}.{name}" if path else name
        typ = sub.get("type", "object")
        if typ == "array":
            item = sub.get("items", {})
            typ = f"[]{item.get('type', 'object')}"
        bits = []
        if name in req:
            bits.append("required")
        if "default" in sub:
            bits.append(f"default `{json.dumps(sub['default'])}`")
        if "enum" in sub:
            bits.append("one of " + ", ".join(f"`{e}`" for e in sub["enum"]))
        for k, label in (("minimum", "min"), ("maximum", "max"), ("maxItems", "max items"),
                         ("minLength", "min length"), ("maxLength", "max length"),
                         ("pattern", "pattern"), ("format", "format")):
            if k in sub:
                bits.append(f"{label} `{sub[k]}`")
        desc = " ".join(sub.get("description", "").split())
        rows.append((p, typ, "; ".join(bits), desc))
        if sub.get("type") == "object":
            walk(sub, p, rows, rules)
        elif sub.get("type") == "array":
            if sub.get("items", {}).get("type") == "object":
                walk(sub["items"], p + "[]", rows, rules)
            else:
                for r in sub.get("items", {}).get("x-kubernetes-validations", []):
                    rules.append((p + "[]", r))


def crd_section(path):
    crd = yaml.safe_load(path.read_text())
    names = crd["spec"]["names"]
    out = [f"## {names['kind']} ({crd['spec']['group']}, {crd['spec']['scope']})", ""]
    short = ", ".join(names.get("shortNames", []))
    out.append(f"`kubectl get {names['plural']}`" + (f" (short: {short})" if short else ""))
    out.append("")
    for version in crd["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        out.append(f"Version `{version['name']}`.")
        desc = " ".join(schema.get("description", "").split())
        if desc:
            out += ["", re.sub(r"<(?=[A-Za-z/])", "&lt;", desc)]
        out.append("")
        columns = version.get("additionalPrinterColumns", [])
        if columns:
            out += ["`kubectl get` columns (wide: with `-o wide` only):", "",
                    "| column | value | description |", "|---|---|---|"]
            for c in columns:
                name = c["name"] + (" (wide)" if c.get("priority", 0) > 0 else "")
                cells = [x.replace("|", "\\|") for x in (name, c["jsonPath"])] + [
                    md(c.get("description", ""))]
                out.append("| {} | `{}` | {} |".format(*cells))
            out.append("")
        out.append("| field | type | constraints | description |")
        out.append("|---|---|---|---|")
        rows, rules = [], []
        walk(schema, "", rows, rules)
        for p, typ, bits, desc in rows:
            if p in ("apiVersion", "kind", "metadata"):
                continue
            cells = [c.replace("|", "\\|") for c in (p, typ, bits)] + [md(desc)]
            out.append("| `{}` | {} | {} | {} |".format(*cells))
        if rules:
            out += ["", "Rules the API server enforces (CEL; the refusal names the field and "
                    "the values found):", ""]
            for where, r in rules:
                out.append(f"- `{where}`: {md(r.get('message', ''))} (`{r['rule']}`)")
        out.append("")
    return out


def values_section():
    values = yaml.safe_load((ROOT / "charts/orderguard/values.yaml").read_text())
    # A trailing comment belongs to the value on its line, by full path: the same
    # key (registry, runAsUser, ...) means different things in different sections.
    comments = {}
    stack = []  # (indent, key) of the enclosing mappings
    for line in (ROOT / "charts/orderguard/values.yaml").read_text().splitlines():
        code = line.split("#")[0]
        if not code.strip() or code.lstrip().startswith("-") or ":" not in code:
            continue
        indent = len(code) - len(code.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = code.split(":")[0].strip()
        path = ".".join([k for _, k in stack] + [key])
        stack.append((indent, key))
        if "#" in line:
            comments[path] = line.split("#", 1)[1].strip()
    out = ["## Helm values (charts/orderguard/values.yaml)", "",
           "| value | default | note |", "|---|---|---|"]

    def rec(obj, prefix):
        for k, v in obj.items():
            p = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict) and v and k not in ("requests", "limits"):
                rec(v, p)
            else:
                out.append(f"| `{p}` | `{json.dumps(v)}` | {comments.get(p, '')} |")
    rec(values, "")
    out.append("")
    return out


def main():
    lines = ["# orderguard reference", "",
             "Generated by `scripts/gen_reference.py` from `crds/` and the chart; do not edit.", ""]
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        lines += crd_section(path)
    lines += values_section()
    text = "\n".join(lines) + "\n"
    target = ROOT / "docs/REFERENCE.md"
    if "--check" in sys.argv[1:]:
        if target.read_text() != text:
            sys.exit("docs/REFERENCE.md is out of date: run python3 scripts/gen_reference.py")
        return
    target.write_text(text)


if __name__ == "__main__":
    main()
