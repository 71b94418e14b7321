#!/usr/bin/env python3
"""The import graph of duet's `src/`, file by file and between top-level modules.

Run from the repository root (or anywhere: paths are relative to this file):

    python3 design/tools/layers.py            # the graph between top-level modules, its cycles
    python3 design/tools/layers.py --files    # also every file-level import across modules
    python3 design/tools/layers.py --check    # exit 1 if two top-level modules import each other
                                              # (directly or around a circle)
    python3 design/tools/layers.py --check-target   # exit 1 if an import goes against
                                              # TARGET_LAYERS below (design/send-scopes.md)

What counts as an import: every `use` declaration and every inline `crate::`, `super::`
or `self::` path in code (comments, doc comments and string literals are skipped, so
rustdoc links such as [`x`](crate::x) do not count). A path is resolved to the file
that defines its item: through `mod` declarations and through `use` re-exports (so
`crate::CancelReason`, re-exported by `lib.rs`, is an import of `src/cancel/reason.rs`).
The *top-level module* of a file is its first directory under `src/` (`runtime`,
`scope`, ...) or, for a file directly in `src/`, its name without `.rs`; `lib.rs` and
`sync.rs`-like leaves are modules like any other.

Standard library only; Python 3.8 or newer.
"""

import argparse
import os
import re
import sys
from collections import defaultdict

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SRC = os.path.join(ROOT, "src")

# The target of design/send-scopes.md, "Layering": each layer may import only from the
# layers listed before it (and from itself). Modules not listed are reported.
TARGET_LAYERS = [
    ["sync", "wakers"],                      # leaves: std or loom primitives, waking helpers
    ["cancel"],                              # what a cancellation is: reasons, task identities, the request cell
    ["error", "context"],                    # ScopeError and JoinError; task-local values
    ["current"],                             # what runs now: the innermost loop, the poll frame, wait reports
    ["schedule"],                            # the seeded scheduler of simulation (its per-loop state)
    ["time"],                                # clocks, timer queues, sleep, timeout, deadlines
    ["interop"],                             # futures from other threads, buffered futures
    ["scope"],                               # the scope tree, and the cancellation API on it
    ["runtime"],                             # run: the driver of a root, Config, park, Ctrl-C
    ["yield_now", "limiter", "collector", "pmap", "race", "limited_scope", "sim"],  # toolkit; sim::check
    ["send"],                                # duet::send: Send scopes and the toolkit over them
    ["lib", "loom_model"],
]


# ---------------------------------------------------------------------------------------
# Reading Rust source


def strip(text):
    """The code of `text` with comments and string/char literal contents blanked out
    (newlines are kept, so line numbers stay right)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
            continue
        if text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
            continue
        m = re.match(r'(b?r)(#*)"', text[i:i + 260]) if c in "br" else None
        if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = '"' + m.group(2)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:j]))
            i = j
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 1:j]))
            i = j + 1
            continue
        if c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:i + 12])
            if m:
                out.append("' '")
                i += len(m.group(0))
                continue
        out.append(c)
        i += 1
    return "".join(out)


IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def parse_use_tree(tree):
    """`a::{b, c::{d, e as f}, self}` -> [(['a','b'], 'b'), (['a','c','d'], 'd'), ...]:
    each imported path with the name it is bound to ('*' for globs)."""
    tree = re.sub(r"\s+", "", tree)
    results = []

    def walk(s, prefix):
        # split s at top-level commas
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        for part in parts:
            if not part:
                continue
            brace = part.find("{")
            if brace >= 0:
                head = part[:brace].rstrip(":")
                inner = part[brace + 1:part.rindex("}")]
                walk(inner, prefix + ([x for x in head.split("::") if x] if head else []))
                continue
            path_s = part
            segs = [x for x in path_s.split("::") if x]
            if segs and segs[-1] == "self":
                segs = segs[:-1]
                name = segs[-1] if segs else None
            else:
                name = segs[-1] if segs else None
            results.append((prefix + segs, name or "*"))

    walk(tree, [])
    return results


class Module:
    def __init__(self, path, file):
        self.path = path            # ['scope', 'core']
        self.file = file            # 'src/scope/core.rs'
        self.children = {}          # name -> Module
        self.uses = []              # (segments, bound name, is_pub, line)
        self.inline = []            # (segments, line)
        self.code = ""

    def name(self):
        return "::".join(self.path) or "crate"


def module_file(dirpath, name):
    a = os.path.join(dirpath, name + ".rs")
    b = os.path.join(dirpath, name, "mod.rs")
    if os.path.exists(a):
        return a, os.path.join(dirpath, name)
    if os.path.exists(b):
        return b, os.path.join(dirpath, name)
    return None, None


def load(path, file, subdir, modules):
    mod = Module(path, os.path.relpath(file, ROOT))
    modules[tuple(path)] = mod
    with open(file, encoding="utf-8") as f:
        text = f.read()
    code = strip(text)
    mod.code = code
    for m in re.finditer(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", code, re.M):
        name = m.group(1)
        child_file, child_dir = module_file(subdir, name)
        if child_file:
            mod.children[name] = load(path + [name], child_file, child_dir, modules)
    for m in re.finditer(r"(?:^|[;{}\]\s])((?:pub(?:\([^)]*\))?\s+)?)use\s+([^;]+);", code):
        is_pub = bool(m.group(1).strip())
        line = code.count("\n", 0, m.start(2)) + 1
        raw = m.group(2)
        # `a as b`: keep the bound name
        for segs, name in parse_use_tree(re.sub(r"\s+as\s+(" + IDENT + ")", r"@\1", raw)):
            bound = name
            if segs and "@" in segs[-1]:
                last, bound = segs[-1].split("@")
                segs = segs[:-1] + [last]
            mod.uses.append((segs, bound, is_pub, line))
    use_spans = [(m.start(), m.end()) for m in re.finditer(r"\buse\s+[^;]+;", code)]
    for m in re.finditer(r"(?<![A-Za-z0-9_:])((?:crate|super|self)(?:::" + IDENT + r")+)", code):
        if any(a <= m.start() < b for a, b in use_spans):
            continue
        segs = m.group(1).split("::")
        mod.inline.append((segs, code.count("\n", 0, m.start()) + 1))
    return mod


class Resolver:
    def __init__(self, modules):
        self.modules = modules

    def start(self, mod, segs):
        """The module a path starts from and the rest of the path; None for a path into
        another crate."""
        path = list(mod.path)
        segs = list(segs)
        if not segs:
            return None
        if segs[0] == "crate":
            return [], segs[1:]
        if segs[0] in ("super", "self"):
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    path = path[:-1]
                segs = segs[1:]
            return path, segs
        if segs[0] in mod.children:
            return path, segs
        # a name `use`d into this module (`use super::x; x::y`)
        return None

    def resolve(self, mod, segs, depth=0):
        """The file defining the item `segs` names, as seen from `mod`."""
        if depth > 20:
            return None
        s = self.start(mod, segs)
        if s is None:
            return None
        path, rest = s
        cur = self.modules.get(tuple(path))
        if cur is None:
            return None
        for i, seg in enumerate(rest):
            if seg in cur.children:
                cur = cur.children[seg]
                continue
            if seg == "*":
                return cur.file
            # a name re-exported (or imported) by `cur`
            for use_segs, bound, _pub, _line in cur.uses:
                if bound == seg and use_segs and use_segs[-1] != "*":
                    target = self.resolve(cur, use_segs, depth + 1)
                    if target:
                        return target
            return cur.file
        return cur.file


def top_level(file):
    rel = os.path.relpath(os.path.join(ROOT, file), SRC)
    parts = rel.split(os.sep)
    if len(parts) == 1:
        return parts[0][:-3]
    return parts[0]


def graph():
    modules = {}
    load([], os.path.join(SRC, "lib.rs"), SRC, modules)
    resolver = Resolver(modules)
    edges = defaultdict(set)       # file -> {(file, line, path)}
    for mod in modules.values():
        refs = [(segs, line) for segs, _b, _p, line in mod.uses] + mod.inline
        for segs, line in refs:
            target = resolver.resolve(mod, segs)
            if target and target != mod.file:
                edges[mod.file].add((target, line, "::".join(segs)))
    files = sorted(m.file for m in modules.values())
    return files, edges


def sccs(nodes, succ):
    """Tarjan's strongly connected components, each sorted, largest first."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(succ.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(out, key=lambda c: (-len(c), c))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", action="store_true", help="list every cross-module file import")
    ap.add_argument("--check", action="store_true", help="fail on a cycle between top-level modules")
    ap.add_argument("--check-target", action="store_true", help="fail on an import against TARGET_LAYERS")
    args = ap.parse_args()

    files, edges = graph()
    top_edges = defaultdict(lambda: defaultdict(list))   # a -> b -> [(file, target, line, path)]
    for f, targets in edges.items():
        for t, line, path in targets:
            a, b = top_level(f), top_level(t)
            if a != b and b != "lib":
                top_edges[a][b].append((f, t, line, path))
    tops = sorted({top_level(f) for f in files})

    print("## Imports between top-level modules (count of file-level imports)\n")
    for a in tops:
        outs = top_edges.get(a, {})
        if outs:
            print(f"{a:>14} -> " + ", ".join(f"{b} ({len(v)})" for b, v in sorted(outs.items())))
        else:
            print(f"{a:>14} -> (nothing)")

    top_succ = {a: set(bs) for a, bs in top_edges.items()}
    top_cycles = [c for c in sccs(tops, top_succ) if len(c) > 1]
    print("\n## Cycles between top-level modules (strongly connected components)\n")
    if not top_cycles:
        print("none")
    for comp in top_cycles:
        print("{" + ", ".join(comp) + "}")
        members = set(comp)
        for a in comp:
            for b in sorted(top_edges.get(a, {})):
                if b in members:
                    sites = top_edges[a][b]
                    detail = "; ".join(sorted({f"{os.path.relpath(f, 'src')}:{l} {p}" for f, _t, l, p in sites}))
                    print(f"  {a} -> {b}: {detail}")

    file_succ = {f: {t for t, _l, _p in ts} for f, ts in edges.items()}
    file_cycles = [c for c in sccs(files, file_succ) if len(c) > 1 and len({top_level(f) for f in c}) > 1]
    print("\n## File-level cycles that span top-level modules\n")
    if not file_cycles:
        print("none")
    for comp in file_cycles:
        mods = sorted({top_level(f) for f in comp})
        print(f"{len(comp)} files in {len(mods)} modules ({', '.join(mods)}):")
        for f in comp:
            print(f"  {os.path.relpath(f, 'src')}")

    if args.files:
        print("\n## Every file-level import across top-level modules\n")
        for f in files:
            outs = sorted({(t, p) for t, _l, p in edges.get(f, ()) if top_level(t) != top_level(f) and top_level(t) != "lib"})
            if outs:
                print(os.path.relpath(f, "src"))
                for t, p in outs:
                    print(f"    -> {os.path.relpath(t, 'src'):<26} {p}")

    status = 0
    if args.check and top_cycles:
        print("\nFAIL: top-level modules import each other in a circle", file=sys.stderr)
        status = 1
    if args.check_target:
        layer_of = {m: i for i, layer in enumerate(TARGET_LAYERS) for m in layer}
        bad = []
        for a, outs in sorted(top_edges.items()):
            for b, sites in sorted(outs.items()):
                if a not in layer_of or b not in layer_of:
                    bad.append(f"{a} -> {b}: a module missing from TARGET_LAYERS")
                elif layer_of[b] > layer_of[a]:
                    for f, _t, l, p in sorted(sites):
                        bad.append(f"{a} -> {b}: {os.path.relpath(f, 'src')}:{l} {p}")
        print("\n## Imports against the target layering\n")
        print("\n".join(bad) if bad else "none")
        if bad:
            status = 1
    sys.exit(status)


if __name__ == "__main__":
    main()
