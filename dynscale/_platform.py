"""The verbs platform show|validate|derive."""

from __future__ import annotations

import argparse

from dynscale._output import add_json_flag, format_table, print_json

EXIT_PROBLEMS = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``platform show|validate|derive`` to the command line."""
    parser = subparsers.add_parser("platform", help="platform models: show, validate, derive tables")
    verbs = parser.add_subparsers(dest="platform_verb", metavar="VERB")
    verbs.required = True

    show = verbs.add_parser("show", help="PEs, provenance, dynamic ranges and Pareto fronts of a platform")
    show.add_argument("platform", metavar="NAME|PATH", help="a shipped platform's name or a descriptor .yaml")
    show.add_argument("--png", metavar="FILE", help="also draw the Pareto fronts into this PNG")
    add_json_flag(show)
    show.set_defaults(handler=_show)

    validate = verbs.add_parser(
        "validate", help="list every problem of a descriptor and its table (exit 2 if any)"
    )
    validate.add_argument("path", metavar="PATH", help="a descriptor .yaml (or a shipped platform's name)")
    add_json_flag(validate)
    validate.set_defaults(handler=_validate)

    derive = verbs.add_parser("derive", help="regenerate the shipped derived tables from their descriptors")
    derive.add_argument(
        "--check", action="store_true", help="only compare; exit 2 if a shipped table differs"
    )
    add_json_flag(derive)
    derive.set_defaults(handler=_derive)


def _show(args: argparse.Namespace) -> int:
    from platform_models import load_platform
    from platform_models.analysis import dynamic_range, pareto_front

    platform = load_platform(args.platform)
    prov = platform.descriptor["provenance"]
    payload = {
        "name": platform.name,
        "path": str(platform.path),
        "provenance": platform.provenance_kind,
        "provenance_detail": prov,
        "groups": platform.groups,
        "accuracy": list(platform.accuracy),
        "accuracy_source": platform.descriptor["dnn"].get("accuracy_source"),
        "pes": [
            {
                "name": pe.name,
                "kind": pe.kind,
                "cpus": list(pe.cpus),
                "n_cores": pe.n_cores,
                "freqs_mhz": list(pe.freqs_mhz),
                "idle_power_w": pe.idle_power_w,
                "dvfs_transition_ms": pe.dvfs_transition_ms,
                "migration_ms": pe.migration_ms,
                "agent_overhead_ms": pe.agent_overhead_ms,
            }
            for pe in platform.pes
        ],
        "dynamic_range": dynamic_range(platform),
        "pareto": {
            "latency": pareto_front(platform, "latency_ms"),
            "energy": pareto_front(platform, "energy_mj"),
        },
    }
    if platform.provenance_kind == "derived" and "derivation" in platform.descriptor:  # made by `derive`
        from platform_models.derive import model_constants
        from platform_models.descriptor import read_descriptor

        descriptor, _ = read_descriptor(platform.path)
        payload["derived_model"] = model_constants(descriptor)
    if args.png:
        _plot(platform, payload["pareto"], args.png)
    if args.json:
        print_json(payload)
        return 0
    label = platform.provenance_kind.upper() + (", CALIBRATED" if "calibration" in prov else "")
    print(f"platform {platform.name} ({label}) from {platform.path}")
    for key, value in prov.items():
        if isinstance(value, dict):
            print(f"  {key}:")
            for name, source in value.items():
                print(f"    {name}: {source}")
        else:
            print(f"  {key}: {value}")
    # The JSON's PE rows, with the lists shortened for a terminal.
    pes = [{**pe, "cpus": ",".join(map(str, pe["cpus"])) or "-",
            "freqs_mhz": f"{pe['freqs_mhz'][0]:g}..{pe['freqs_mhz'][-1]:g} ({len(pe['freqs_mhz'])})"}
           for pe in payload["pes"]]
    print()
    print(format_table(pes))
    if "derived_model" in payload:
        before = ", before the calibration above" if "calibration" in prov else ""
        print(f"\nderived model constants per PE (fits solved; sources in the descriptor{before}):")
        print(format_table(payload["derived_model"]))
    accuracy = ", ".join(f"k={k}: {a:.3f}" for k, a in enumerate(platform.accuracy, start=1))
    print(f"\naccuracy top-1 ({payload['accuracy_source']}): {accuracy}")
    dr = payload["dynamic_range"]
    print(f"\ndynamic range ({label}), max/min over configurations, all cores free:")
    print(
        f"  groups alone ({dr['groups_pe']} at {dr['groups_freq_mhz']:g} MHz, k = 1..{platform.groups}): "
        f"time {dr['time_groups']:.3g}x, energy {dr['energy_groups']:.3g}x"
    )
    print(f"  groups + mapping + DVFS: time {dr['time_all']:.3g}x, energy {dr['energy_all']:.3g}x")
    for figure in ("latency", "energy"):
        print(f"\nPareto front, accuracy vs {figure} ({label}):")
        print(format_table(payload["pareto"][figure]))
    return 0


def _plot(platform, pareto: dict, png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    from platform_models.atomic import atomic_path

    metrics = platform.config_metrics()
    accuracy = [platform.accuracy[c.groups - 1] for c in platform.configs()]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, figure, values, unit in (
        (axes[0], "latency", metrics.latency_ms, "latency (ms)"),
        (axes[1], "energy", metrics.energy_mj, "energy per inference (mJ)"),
    ):
        for pe in platform.pes:
            idx = [i for i, c in enumerate(platform.configs()) if c.pe == pe.name]
            ax.scatter([values[i] for i in idx], [accuracy[i] for i in idx], s=10, alpha=0.6, label=pe.name)
        front = pareto[figure]
        ax.step(
            [p[f"{figure}_ms" if figure == "latency" else "energy_mj"] for p in front],
            [p["accuracy"] for p in front],
            where="post",
            color="black",
            label="Pareto front",
        )
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on short log ranges
        ax.set_xlabel(unit)
        ax.set_ylabel("top-1 accuracy")
        ax.legend(fontsize=8)
    fig.suptitle(f"{platform.name} ({platform.provenance_kind}): every (k, PE, frequency), all cores")
    fig.tight_layout()
    try:
        with atomic_path(png) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    finally:
        plt.close(fig)


def _validate(args: argparse.Namespace) -> int:
    from platform_models import validate_platform

    problems = validate_platform(args.path)
    if args.json:
        print_json({"path": args.path, "valid": not problems, "problems": problems})
    elif problems:
        for line in problems:
            print(line)
    else:
        print(f"{args.path}: valid")
    return EXIT_PROBLEMS if problems else 0


def _derive(args: argparse.Namespace) -> int:
    from platform_models.store import derive_shipped

    results = derive_shipped(check=args.check)
    rows = [
        {"table": str(path), "status": "same" if same else ("DIFFERS" if args.check else "written")}
        for path, same in results
    ]
    if args.json:
        print_json(rows)
    else:
        print(format_table(rows))
    return EXIT_PROBLEMS if args.check and not all(same for _, same in results) else 0
