"""What ``--help`` shows: every option with its default and range, every verb with examples.

The verbs' modules declare their options; :func:`finish` walks the finished parser once, gives every
parser the formatter below (an option's help gains "default: X" where it does not say it, and the
range of a :class:`~dynscale._options.Number`) and ends each verb's help with its ``EXAMPLES``.
"""

from __future__ import annotations

import argparse

from dynscale._options import Number

TOP_EPILOG = """\
start here:
  dynscale quickstart                      train briefly, compare with the heuristics (simulated)
  dynscale deploy --controller lookup --trace traces/data/host/ramp-eval-s122.csv --out runs/live
after a killed profile or deploy (clocks left pinned):
  dynscale board restore
"""

EXAMPLES: dict[str, tuple[str, ...]] = {
    "dnn train": ("dynscale dnn train --out runs/dnn",
                  "dynscale dnn train --dataset cifar10 --data-dir ~/cifar-10-batches-py --out runs/cifar"),
    "dnn bench": ("dynscale dnn bench", "dynscale dnn bench --checkpoint runs/dnn --runs 50"),
    "dnn cost": ("dynscale dnn cost", "dynscale dnn cost --arch alexnet-digits --k 2"),
    "platform show": ("dynscale platform show odroid-xu3", "dynscale platform show host --png host.png"),
    "platform validate": ("dynscale platform validate runs/profile/host.yaml",),
    "platform derive": ("dynscale platform derive --check",),
    "trace gen": ("dynscale trace gen --kind bursty --platform odroid-xu3 --out bursty.csv",
                  "dynscale trace gen --kind ramp --platform jetson-nano --seed 3 --out ramp.csv"),
    "trace record": ("dynscale trace record --duration 60 --latency-budget-ms 50 --out mine.csv",),
    "trace show": ("dynscale trace show bursty.csv --png bursty.png",),
    "trace validate": ("dynscale trace validate traces/data/odroid-xu3/*.csv",),
    "train": ("dynscale train --out runs/ppo",
              "dynscale train --algo dqn --timesteps 50000 --hyperparams learning_rate=0.001 --out runs/dqn"),
    "evaluate": ("dynscale evaluate",
                 "dynscale evaluate --controllers runs/ppo,lookup,oracle --episodes 3 --out runs/eval"),
    "replay": ("dynscale replay --trace traces/data/odroid-xu3/bursty-eval-s103.csv --controller lookup "
               "--out runs/replay",),
    "export": ("dynscale export runs/ppo --out policy.npz",),
    "quickstart": ("dynscale quickstart", "dynscale quickstart --platform jetson-nano --out runs/nano"),
    "sweep": ("dynscale sweep sweeps/seeds.yml --out runs/sweep",
              "dynscale sweep sweeps/tune-xu3.yml --out /shared/sweep --address auto --max-concurrent 8"),
    "board probe": ("dynscale board probe", "dynscale board probe --board odroid-xu3 --json"),
    "board restore": ("dynscale board restore",),
    "profile": ("dynscale profile --calibrate host --out runs/host   (a minute: the shipped table, "
                "rescaled to this machine)",
                "dynscale profile --out runs/profile   (every operating point of this machine)"),
    "deploy": ("dynscale deploy --controller lookup --trace traces/data/host/ramp-eval-s122.csv "
               "--out runs/live",
               "dynscale deploy --board odroid-xu3 --controller policy.npz --trace bursty.csv --duration 60 "
               "--out runs/xu3"),
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks; adds each option's default and range where its help lacks them."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        extras = []
        if isinstance(action.type, Number) and action.type.text not in text:
            extras.append(action.type.text)
        shows_default = "default" in text.lower() or action.required or not action.option_strings
        if not shows_default and action.default not in (None, False, [], argparse.SUPPRESS):
            extras.append("default: %(default)s")
        return f"{text} ({'; '.join(extras)})" if extras else text


def finish(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and every verb under it the formatter, and each verb its examples."""
    parser.formatter_class = HelpFormatter
    parser.epilog = TOP_EPILOG
    for name, verb in leaf_parsers(parser).items():
        verb.epilog = "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES.get(name, ()))


def leaf_parsers(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every verb's parser by its words ("trace gen"), each given the formatter on the way."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                sub.formatter_class = HelpFormatter
                words = f"{prefix} {name}".strip()
                found.update(leaf_parsers(sub, words) or {words: sub})
    return found
