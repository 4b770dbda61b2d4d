#!/usr/bin/env python3
"""The dependency graph of the aigc library's top-level modules (from `crate::…` paths), and any
cycle in it. Usage: scripts/module-deps.py [crates/aigc/src]; exits 1 when there is a cycle."""
import os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "crates", "aigc", "src")
modules = sorted({n[:-3] if n.endswith(".rs") else n for n in os.listdir(root) if n not in ("lib.rs",)})
deps = {m: set() for m in modules}
for m in modules:
    path = os.path.join(root, m)
    files = [path + ".rs"] if os.path.isfile(path + ".rs") else [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".rs")]
    for f in files:
        text = open(f).read()
        text = re.sub(r"//.*", "", text)  # comments and docs may mention anything
        for used in re.findall(r"\bcrate::(\w+)", text):
            if used in deps and used != m:
                deps[m].add(used)

def cycle():
    state = {}
    def visit(m, stack):
        state[m] = 1
        for d in sorted(deps[m]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d, stack + [d])
                if found:
                    return found
        state[m] = 2
        return None
    for m in modules:
        if m not in state:
            found = visit(m, [m])
            if found:
                return found
    return None

for m in modules:
    print(f"{m:10} -> {', '.join(sorted(deps[m])) or '-'}")
c = cycle()
if c:
    print("cycle: " + " -> ".join(c))
    sys.exit(1)
print("no cycle")
