"""``python -m harness list``: what the harness knows — methods, protocols, datasets, backbones."""
from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("list", help="methods, protocols, datasets and backbones known to the harness",
                                   description="List methods, protocols, datasets and backbones.")
    parser.add_argument("what", nargs="?", default="all", choices=["all", "methods", "protocols", "datasets",
                                                                 "backbones"])
    parser.set_defaults(func=handle)


def handle(args) -> int:
    from ..models.methods_registry import list_methods, method_entry
    from ..engine.protocols import list_protocols, load_protocol

    if args.what in ("all", "methods"):
        print("methods:")
        for name in list_methods():
            print(f"  {name:<12} {method_entry(name)['target']}")
    if args.what in ("all", "protocols"):
        print("protocols:")
        for name in list_protocols():
            protocol = load_protocol(name)
            print(f"  {name:<12} v{protocol['version']}  {protocol['title']}  "
                  f"(embedded: {', '.join(protocol['default_datasets'])}; real: {', '.join(protocol['real_datasets'])})")
    if args.what in ("all", "datasets"):
        from ..data.catalog import list_datasets

        print("datasets:")
        for name in list_datasets():
            print(f"  {name}")
    if args.what in ("all", "backbones"):
        from ..models.backbones import COMMON_BACKBONES, _needed_packages, list_backbones

        names = list_backbones()
        # an architecture whose optional package is absent is listed apart, with the install that enables it
        unavailable: dict[str, list[str]] = {}
        for name in names:
            missing = sorted({package for package, _ in _needed_packages(name)})
            if missing:
                unavailable.setdefault(" ".join(missing), []).append(name)
        blocked = {n for group in unavailable.values() for n in group}
        print("backbones (open_clip ViT architectures; common: " + ", ".join(COMMON_BACKBONES) + "):")
        print("  " + " ".join(n for n in names if n not in blocked))
        for packages, group in sorted(unavailable.items()):
            print(f"  need `pip install {packages}`: " + " ".join(group))
    return 0
