#!/usr/bin/env python3
"""Prints each workspace crate's module dependency graph and fails on a cycle.

A module "uses" another when its code names a path into it (`crate::a::b`, `super::x`,
`self::y`, grouped `use` trees included; comments are ignored). Edges are compared between
siblings: a use from `mcp::tools` of `state` is an edge `mcp -> state` at the crate root, and a
use of `mcp::version` from `mcp::tools` is an edge `tools -> version` inside `mcp`. A child
naming its own ancestor (or the reverse) is containment, not a dependency, and is not counted.

Usage: scripts/module-graph.py [--quiet] [crate-dir ...]   (default: every workspace member)
Exit status 1 when any crate has a cycle between sibling modules.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMBERS = ["shared", "runtime", "control-plane", "data-plane", "gateway"]
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments(src):
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return "\n".join(re.sub(r"//.*", "", line) for line in src.splitlines())


def modules_of(src_dir, root_file):
    """Maps module path (tuple) -> file, following `mod x;` declarations."""
    found = {}

    def visit(path, file, dir_for_children):
        found[path] = file
        with open(file, encoding="utf-8") as f:
            text = strip_comments(f.read())
        for m in re.finditer(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", text, re.M):
            name = m.group(1)
            direct = os.path.join(dir_for_children, name + ".rs")
            nested = os.path.join(dir_for_children, name, "mod.rs")
            if os.path.exists(direct):
                visit(path + (name,), direct, os.path.join(dir_for_children, name))
            elif os.path.exists(nested):
                visit(path + (name,), nested, os.path.join(dir_for_children, name))

    visit((), os.path.join(src_dir, root_file), os.path.dirname(os.path.join(src_dir, root_file)))
    return found


def use_trees(text, anchor):
    """Yields the segment lists of every path starting at `anchor::` (groups expanded)."""
    for m in re.finditer(r"\b" + anchor + r"::", text):
        yield from expand(text, m.end())


def expand(text, pos):
    """Expands the path or `{...}` group starting at text[pos] into segment lists."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos < len(text) and text[pos] == "{":
        depth, start, items = 0, pos + 1, []
        for i in range(pos, len(text)):
            c = text[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    items.append(text[start:i])
                    break
            elif c == "," and depth == 1:
                items.append(text[start:i])
                start = i + 1
        for item in items:
            item = item.strip()
            if item:
                yield from expand(item, 0)
        return
    m = re.match(r"(" + IDENT + r"(?:\s*::\s*" + IDENT + r")*)(\s*::\s*)?", text[pos:])
    if not m:
        return
    segments = [s.strip() for s in m.group(1).split("::")]
    if m.group(2):
        rest = list(expand(text, pos + m.end()))
        if rest:
            for r in rest:
                yield segments + r
            return
    yield segments


def resolve(modules, segments):
    """The longest module path that `segments` (from the crate root) names."""
    best = ()
    for i in range(1, len(segments) + 1):
        if tuple(segments[:i]) in modules:
            best = tuple(segments[:i])
    return best


def edges_of(modules):
    edges = set()
    for path, file in modules.items():
        with open(file, encoding="utf-8") as f:
            text = strip_comments(f.read())
        targets = [resolve(modules, s) for s in use_trees(text, "crate")]
        is_dir_module = file.endswith("mod.rs") or len(path) == 0
        parent = path if is_dir_module else path[:-1]
        # `super` in a file module means its parent; `self` its own children.
        for s in use_trees(text, "super"):
            base = path[:-1]
            while s and s[0] == "super":
                base, s = base[:-1], s[1:]
            targets.append(resolve(modules, list(base) + s))
        for s in use_trees(text, "self"):
            targets.append(resolve(modules, list(path) + s))
        del parent
        for target in targets:
            sibling_edge(edges, path, target)
    return edges


def sibling_edge(edges, source, target):
    common = 0
    while common < min(len(source), len(target)) and source[common] == target[common]:
        common += 1
    if common == len(source) or common == len(target):
        return  # an ancestor and its descendant: containment
    edges.add((source[: common + 1], target[: common + 1]))


def cycles(edges):
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def name(path):
    return "::".join(path) or "crate"


def main(argv):
    quiet = "--quiet" in argv
    dirs = [a for a in argv if not a.startswith("--")] or MEMBERS
    failed = False
    for member in dirs:
        src = os.path.join(ROOT, member, "src")
        roots = [r for r in ("lib.rs", "main.rs") if os.path.exists(os.path.join(src, r))]
        bin_dir = os.path.join(src, "bin")
        if os.path.isdir(bin_dir):
            for b in sorted(os.listdir(bin_dir)):
                if os.path.exists(os.path.join(bin_dir, b, "main.rs")):
                    roots.append(os.path.join("bin", b, "main.rs"))
        for root_file in roots:
            modules = modules_of(src, root_file)
            edges = edges_of(modules)
            found = cycles(edges)
            print(f"{member}/src/{root_file}: {len(modules)} modules, {len(edges)} sibling edges, "
                  f"{len(found)} cycles")
            if not quiet:
                for a, b in sorted(edges):
                    print(f"  {name(a)} -> {name(b)}")
            for c in found:
                failed = True
                print("  CYCLE: " + " <-> ".join(name(p) for p in c))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
