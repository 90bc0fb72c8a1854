"""The import rules of docs/architecture.md, checked over the code's own import statements.

Every `import` counts, at module level or inside a function: an import placed in a function to
dodge a cycle is still a cycle. The graph is read from the source with `ast`; nothing is run.
"""

import ast

import pytest

from tests.processes import ROOT

PACKAGES = ("approvals", "audit", "lockbox_portal", "devtools")


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules():
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _target(name):
    """The project module an imported dotted name lives in, or None for a third-party one."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module, path):
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno


def _graph():
    graph = {}
    for module, path in MODULES.items():
        edges = {}
        for name, line in _imports(module, path):
            target = _target(name)
            if target and target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


GRAPH = _graph()


def _matches(module, patterns):
    return any(module == p or module.startswith(p + ".") for p in patterns)


def _violations(importers, forbidden, *, except_importers=(), allowed=()):
    return sorted(
        f"{module} imports {target} (line {line})"
        for module, edges in GRAPH.items()
        if _matches(module, importers) and not _matches(module, except_importers)
        for target, line in edges.items()
        if _matches(target, forbidden) and not _matches(target, allowed)
    )


# --- The rules (docs/architecture.md names each) ------------------------------------------------

ADAPTERS = ("approvals.views", "approvals.api", "approvals.forms", "approvals.templatetags",
            "approvals.admin", "approvals.tasks", "approvals.management",
            "approvals.notifications.tasks", "approvals.notifications.management",
            "lockbox_portal.urls", "lockbox_portal.urls_customer", "lockbox_portal.urls_internal",
            "lockbox_portal.urls_accounts", "lockbox_portal.admin_site", "lockbox_portal.celery",
            "lockbox_portal.wsgi", "devtools",
            # App configs wire the layers together at start-up (signals, task registration).
            "approvals.apps", "approvals.notifications.apps", "approvals.api.apps")
# What the domain may still take from the API package: its models (app label approvals_api).
API_MODELS = ("approvals.api.models",)


def test_no_import_cycles():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components, iteratively deep enough here
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_domain_does_not_import_adapters():
    domain = ("approvals",)
    assert _violations(domain, ADAPTERS, except_importers=ADAPTERS, allowed=API_MODELS) == []


def test_the_audit_log_stands_alone():
    """The audit app holds the log; the product writes to it, never the other way round."""
    assert _violations(("audit",), ("approvals", "devtools", "lockbox_portal.security")) == []


def test_the_sites_do_not_reach_into_each_other():
    portal, internal = "approvals.views.portal", "approvals.views.internal"
    assert _violations((portal, "lockbox_portal.urls_customer"), (internal,)) == []
    assert _violations((internal, "lockbox_portal.urls_internal"), (portal,)) == []


def test_the_shared_view_code_serves_both_sites_and_neither():
    shared = ("approvals.views.shared",)
    assert _violations(shared, ("approvals.views.portal", "approvals.views.internal")) == []


def test_production_code_never_imports_the_development_tools():
    assert _violations(("approvals", "audit", "lockbox_portal"), ("devtools",)) == []


def test_the_platform_knows_nothing_of_the_product():
    """Clock, environment, database limits and step-up sit below every app."""
    base = ("lockbox_portal.clock", "lockbox_portal.env", "lockbox_portal.db",
            "lockbox_portal.security.stepup", "lockbox_portal.security.mfa",
            "lockbox_portal.metrics", "lockbox_portal.metrics_listener")
    assert _violations(base, ("approvals", "audit", "devtools")) == []


def test_the_audit_encoding_is_pure():
    """What tools/lockbox_verify.py re-implements offline: no database, no settings."""
    tree = ast.parse((ROOT / "audit" / "encoding.py").read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {n for n in names if n.startswith(("django", *PACKAGES))}


@pytest.mark.parametrize("rule", [
    # A forbidden import added to a domain module is caught: the check can fail.
    ("approvals.policy", {"approvals.views.portal.requests": 1}),
])
def test_the_checks_see_a_forbidden_import(rule, monkeypatch):
    module, edges = rule
    monkeypatch.setitem(GRAPH, module, {**GRAPH.get(module, {}), **edges})
    assert f"{module} imports approvals.views.portal.requests (line 1)" in _violations(
        ("approvals",), ADAPTERS, except_importers=ADAPTERS, allowed=API_MODELS)
