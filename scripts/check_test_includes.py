#!/usr/bin/env python3
"""Holds the tests to the component boundaries (CTest test_includes_check).

Usage: check_test_includes.py <source dir>

A component's tests depend on that component, the libraries below it (base/,
kube/, policy/, api/) and the shared test support (e2e/); tests that need
several product components live in e2e/. Three rules, each cheap to break by
accident when a helper is borrowed from a neighbour:

1. "<c>/test/..." headers are included only by files under <c>/: test support
   that another component needs belongs in e2e/support/.
2. The tests of a product component (<c>/test/, <c>/fuzz/, <c>/bench/ of
   operator, webhook, agent) include no other product component's headers.
3. The test targets a product component's CMakeLists.txt declares
   (orderguard_test) link no other product component's library, nor one of
   its own libraries (orderguard::<component>_*).

Prints every violation as file:line and exits 1 if there is any.
"""

import os
import re
import sys

PRODUCTS = ("operator", "webhook", "agent")
TEST_DIRS = ("test", "fuzz", "bench")
SOURCE_SUFFIXES = (".cpp", ".cc", ".h", ".hpp")
SKIP_DIRS = {"build", "node_modules"}

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
TEST_BLOCK = re.compile(r"\borderguard_test\s*\((.*?)\)", re.S)
DEPS = re.compile(r"\bDEPS\b(.*?)(?:\b(?:LABEL|SOURCES|NAME)\b|$)", re.S)


def source_files(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")]
        for name in filenames:
            if name.endswith(SOURCE_SUFFIXES):
                yield os.path.join(dirpath, name)


def check_includes(root, problems):
    for path in source_files(root):
        rel = os.path.relpath(path, root)
        parts = rel.split(os.sep)
        owner = parts[0]
        in_product_tests = owner in PRODUCTS and len(parts) > 2 and parts[1] in TEST_DIRS
        with open(path, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                header = m.group(1)
                hparts = header.split("/")
                if len(hparts) < 2:
                    continue
                if len(hparts) > 2 and hparts[1] == "test" and hparts[0] != owner:
                    problems.append(
                        f"{rel}:{lineno}: includes {header}, a test header of {hparts[0]}/ "
                        "(shared test support belongs in e2e/support/)")
                elif in_product_tests and hparts[0] in PRODUCTS and hparts[0] != owner:
                    problems.append(
                        f"{rel}:{lineno}: a test of {owner}/ includes {header} of {hparts[0]}/ "
                        "(tests across components belong in e2e/)")


def check_links(root, problems):
    for component in PRODUCTS:
        path = os.path.join(root, component, "CMakeLists.txt")
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for block in TEST_BLOCK.finditer(text):
            deps = DEPS.search(block.group(1))
            if not deps:
                continue
            lineno = text.count("\n", 0, block.start()) + 1
            for dep in deps.group(1).split():
                m = re.fullmatch(r"orderguard::(\w+)", dep)
                # orderguard::<product> or a library of its own (orderguard::<product>_*).
                other = m.group(1).split("_")[0] if m else ""
                if other in PRODUCTS and other != component:
                    problems.append(
                        f"{component}/CMakeLists.txt:{lineno}: a test target links {dep} "
                        "(tests across components belong in e2e/)")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = sys.argv[1]
    problems = []
    check_includes(root, problems)
    check_links(root, problems)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} test dependencies cross a component boundary", file=sys.stderr)
        return 1
    print("test dependencies stay within their components")
    return 0


if __name__ == "__main__":
    sys.exit(main())
