"""``python -m explorer``: the app's runs, headless.

Subcommands: ``train`` (one run; ``--json`` for machines), ``variants`` (every
variant, schedule and inference mode with its formulas and parameters),
``sweep`` (error vs drop rate or training-set size, many models batched),
``analyze`` (the numbers of the co-adaptation, uncertainty and theory pages),
``lessons`` (the lessons, and a check of what each tells students) and
``bench`` (the speed report). Bad input exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from explorer import settings
from explorer.core.analysis import ANALYSES, load_analysis
from explorer.core.experiment import (
    CSV, IDX_DATASETS, OWNERS, PARAMS, PARSERS, Experiment, build, check, defaults_for, flag, format_field, parse_field,
)
from explorer.sweep.state import MODES, OVER, SWEEP_VARIANTS, SweepSpec, Sweep, default_sizes, sweep_defaults
from explorer.core.export import data_of, finite, read_config, replay
from explorer.core.points import Points, PointsError, read_points_file
from explorer.core.parsing import choice
from explorer.sweep.files import read_sweep
from explorer.core.training import Trainer
from explorer.tools import lessons_cli
from explorer.theory.l2 import files as ridge_files
from explorer.uncertainty.regression import files as regression_files


HELP = {
    "dataset": "toy dataset, csv (your own 2-D points: --data-file), or mnist (embedded 5,000 digits), mnist-full, "
               "fashion-mnist",
    "train_size": "training examples (small sets overfit: that is the point)",
    "val_size": "validation examples, same distribution",
    "noise": "input noise (standard deviation; toy datasets)",
    "label_noise": "fraction of training labels flipped (toy datasets)",
    "model": "mlp, or cnn (MNIST sets: two conv layers, then a dense layer of HIDDEN[0] units)",
    "hidden": "hidden widths, comma-separated (e.g. 64,64); the CNN's dense layer uses the first",
    "activation": "hidden activation",
    "p": "hidden drop rate q (probability of dropping a unit)",
    "input_p": "input drop rate",
    "conv_p": "the CNN's channel (spatial) drop rate on its conv feature maps",
    "variant": "dropout variant of the input and hidden/dense layers, or a schedule: early, late (list: variants)",
    "conv_variant": "the CNN's conv-map dropout: spatial (whole channels) or dropblock",
    "inference": "standard (one pass of the inference network) or mc (average of stochastic passes)",
    "optimizer": "optimiser",
    "lr": "learning rate",
    "batch_size": "mini-batch size",
    "weight_decay": "L2 weight decay",
    "max_norm": "max-norm constraint c on incoming weights (0 = off)",
    "epochs": "epochs to train",
    "seed": "seed for data, initial weights, batch order and masks",
    "data_dir": "directory of the IDX files of mnist-full / fashion-mnist (downloaded there if absent and online)",
    "data_file": "--dataset csv: a CSV of 2-D points with a header x1,x2,label (README: Data in, results out); "
                 "sizes default to 70 %% / 30 %% of its points",
    **{name: f"{' or '.join(OWNERS[name])}: {param.help}" for name, param in PARAMS.items()},  # declared with them
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line, status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        fail(message)


def fail(message: str) -> None:
    print(f"explorer: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m explorer", description="Dropout Explorer, headless.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = sub.add_parser("train", help="train one network and print its history",
                           description="Defaults depend on --dataset: those shown, or the MNIST ones in brackets.")
    _experiment_flags(train, Experiment(), defaults_for("mnist"))
    train.add_argument("--config", metavar="FILE", help="replay an experiment file a page exported (its other flags "
                       "left out), the Uncertainty page's regression and the Theory page's ridge files too: the "
                       "same seed gives the same history, number for number")
    train.add_argument("--run", metavar="NAME", help="--config: which network of the file to train (default: the "
                       "first, the one with dropout)")
    train.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    sweep = sub.add_parser("sweep", help="error vs drop rate or training-set size (Srivastava et al. Fig. 9, 10)",
                           description="Many MLPs, trained together in batched stacks, each the run `train` "
                                       "would make of its settings. "
                                       "Defaults: the MNIST subset, 784-256-256-10, 10 epochs.")
    sweep.add_argument("--over", choices=OVER, default="rate", help="what varies: the hidden drop rate, or the "
                       "training-set size (with and without dropout)")
    sweep.add_argument("--mode", choices=MODES, default="fixed-width", help="rate sweeps: keep the widths n, or use "
                       "n/k units so n·k are kept on average")
    sweep.add_argument("--rates", metavar="Q,Q,...", help="hidden drop rates (default 0,0.1,...,0.9)")
    sweep.add_argument("--sizes", metavar="N,N,...", help="training-set sizes (default 100,...,4000 on MNIST; "
                       "20,...,1000 on toy data)")
    sweep.add_argument("--seeds", metavar="S", default="3", help="seeds per point (default 3)")
    sweep.add_argument("--variants", metavar="V,V,...", default="standard",
                       help="dropout variants or schedules to compare, a curve each, on the same seeds and data: "
                            + ", ".join(SWEEP_VARIANTS) + " (default standard)")
    _experiment_flags(sweep, sweep_defaults("xor"), sweep_defaults("mnist"), dataset_default="mnist")
    sweep.add_argument("--config", metavar="FILE", help="replay a sweep file the Sweeps page exported (other flags "
                       "left out): the same numbers")
    sweep.add_argument("--save-weights", metavar="FILE", help="write every model's trained weights to FILE: "
                       "{name: state_dict} (e.g. 'standard q=0.5 seed 0'), for torch.load(FILE, weights_only=True)")
    sweep.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    analyze = sub.add_parser("analyze", help="the numbers of the co-adaptation, uncertainty and theory pages",
                             description="Trains what the page trains and prints what it measures. Every flag "
                                         "defaults to that analysis's own setting (README: Analyses).")
    analyze.add_argument("--what", choices=tuple(ANALYSES), required=True,
                         help="coadaptation (correlations, DeCov, ablation), mc (MC dropout on MNIST digits), "
                              "ridge (dropout as L2), averaging (exact average of all thinned networks)")
    _experiment_flags(analyze, None, None)
    analyze.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    variants = sub.add_parser("variants", help="list every dropout variant, schedule and inference mode")
    variants.add_argument("--json", action="store_true", help="print a JSON list with formulas and parameters")
    bench = sub.add_parser("bench", help="measure speed against a bare torch loop")
    bench.add_argument("--repeats", type=int, default=5, help="timed repeats per case; medians are reported")
    bench.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    bench.add_argument("--no-app", dest="app", action="store_false", help="skip the browser measurements of the app")
    lessons_cli.add_parser(sub)
    sub.add_parser("loadtest", add_help=False, help="N students training on the live pages at once, without browsers "
                   "(loadtest --help)")  # parsed by explorer.tools.loadtest, imported only when used
    return parser


def _experiment_flags(parser: argparse.ArgumentParser, toy: Experiment | None, digits: Experiment | None,
                      dataset_default: str = Experiment.dataset) -> None:
    """A flag per Experiment field; help shows the toy default and, where it differs, the MNIST one
    (no defaults shown when ``toy`` is None: they are the analysis's own)."""
    for f in fields(Experiment):
        if toy is None or digits is None:
            parser.add_argument(flag(f.name), dest=f.name, metavar=f.name.upper(), help=HELP[f.name])
            continue
        default, for_digits = (format_field(getattr(e, f.name)) for e in (toy, digits))
        shown = default if default == for_digits else f"{default} [MNIST: {for_digits}]"
        if f.name == "dataset":
            shown = dataset_default
        if f.name == "data_dir":
            shown = "$EXPLORER_DATA_DIR/DATASET, else $EXPLORER_CACHE/data/DATASET, else ~/.cache/dropout-explorer/data/DATASET"
        if f.name == "data_file":
            shown = "none"
        parser.add_argument(flag(f.name), dest=f.name, metavar=f.name.upper(), help=f"{HELP[f.name]} (default {shown})")


def _parse(name: str, text: str) -> Any:
    try:
        return parse_field(name, text)
    except ValueError as err:
        fail(f"{flag(name)}: {err}")


def experiment_from_args(args: argparse.Namespace, defaults: Callable[[str], Experiment] = defaults_for,
                         dataset: str = Experiment.dataset, **implied: Any) -> Experiment:
    """``--dataset`` first: its ``defaults`` (toy or MNIST), then ``implied`` values, then every other flag
    given, then ``check``."""
    base = replace(defaults(dataset if args.dataset is None else _parse("dataset", args.dataset)), **implied)
    if base.dataset == CSV:
        base = replace(base, **_csv_defaults(args))
    values = {f.name: _parse(f.name, getattr(args, f.name)) for f in fields(Experiment)
              if f.name != "dataset" and getattr(args, f.name) is not None}
    exp = replace(base, **values)
    problems = check(exp)
    if problems:
        fail(problems[0])
    if exp.dataset in IDX_DATASETS and not exp.data_dir:  # the config reports the directory actually read
        exp = replace(exp, data_dir=str(exp.data_path()))
    return exp


def _csv_defaults(args: argparse.Namespace) -> dict[str, Any]:
    """Your own points: the file's split (70 % / 30 %) unless sizes are given, and no generated noise."""
    if args.data_file is None:
        fail("--dataset csv reads your points from --data-file F (a CSV with columns x1,x2,label)")
    try:
        points = read_points_file(_parse("data_file", args.data_file))
    except PointsError as err:
        fail(f"--data-file: {err}")
    train_size, val_size = points.default_split()
    return {"train_size": train_size, "val_size": val_size, "noise": 0.0, "label_noise": 0.0}


class ProgressTable:
    """Prints a row every tenth of the run and a progress bar on a terminal."""

    COLUMNS = ("epoch", "train_loss", "val_loss", "train_acc", "val_acc", "p")

    def __init__(self, epochs: int, out: TextIO, bar: TextIO | None) -> None:
        self.every, self.epochs, self.out, self.bar = max(1, epochs // 10), epochs, out, bar
        print("  ".join(f"{c:>10}" for c in self.COLUMNS), file=out)

    def __call__(self, trainer: Trainer) -> None:
        row = trainer.history[-1]
        if self.bar is not None:
            done = int(30 * trainer.epoch / self.epochs)
            print(f"\r[{'#' * done}{'.' * (30 - done)}] epoch {trainer.epoch}/{self.epochs}", end="", file=self.bar, flush=True)
        if trainer.epoch % self.every == 0 or trainer.done:
            if self.bar is not None:
                print("\r" + " " * 60 + "\r", end="", file=self.bar)
            print("  ".join(f"{row[c]:>10}" if c == "epoch" else f"{row[c]:>10.4f}" for c in self.COLUMNS), file=self.out)


def cmd_train(args: argparse.Namespace) -> None:
    settings.configure_torch(shared=False)
    if args.config is not None:
        text = _config_file(args, _experiment_flags_given(args), "experiment")
        part = PART_FILES.get(_format_of(text))
        if part is not None:
            _train_part(args, text, part)
            return
        exp, trainer = _replayed(args, text)
    else:
        if args.run is not None:
            fail("--run picks a network of an experiment file: use it with --config")
        exp = experiment_from_args(args)
        try:
            trainer = build(exp)
        except ValueError as err:  # mnist.DataError, points.PointsError too: missing, corrupt or too few
            fail(" ".join(str(err).split()))
    if not args.json:
        trainer.add_callback("on_epoch_end", ProgressTable(exp.epochs, sys.stdout, sys.stderr if sys.stderr.isatty() else None))
    trainer.run()
    if args.json:
        result = {"config": exp.to_dict(), "history": trainer.history, "final": trainer.final(), "seconds": trainer.train_seconds}
        json.dump(finite(result), sys.stdout, allow_nan=False)
        print()
    else:
        final = trainer.final()
        print(f"final: train loss {final['train_loss']:.4f}, val loss {final['val_loss']:.4f}, "
              f"train acc {final['train_acc']:.1%}, val acc {final['val_acc']:.1%} in {trainer.train_seconds:.1f} s")


def _experiment_flags_given(args: argparse.Namespace) -> list[str]:
    return [flag(f.name) for f in fields(Experiment) if getattr(args, f.name) is not None]


def _config_file(args: argparse.Namespace, given: list[str], what: str) -> str:
    """The text of ``--config``; the flags ``given`` besides it are refused (the file holds the ``what``)."""
    if given:
        fail(f"--config replays the file's {what}: leave out {', '.join(given)}")
    try:
        with open(args.config, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as err:
        fail(f"--config: cannot read {args.config}: {getattr(err, 'strerror', None) or err}")


def _format_of(text: str) -> Any:
    """A file's "format" (None if it is not a JSON object: the reader of experiment files says what is wrong)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc.get("format") if isinstance(doc, dict) else None


def _regression_part(text: str, source: str) -> tuple[dict[str, Any], list[dict], tuple[str, ...], float]:
    start, changes, loaded = regression_files.read_regression(text, source)
    _warn_loaded(loaded)
    trainer = regression_files.replay(start, changes)
    return ({"config": asdict(start), "changes": changes}, trainer.history, ("train_mse", "val_mse", "p"),
            trainer.train_seconds)


def _ridge_part(text: str, source: str) -> tuple[dict[str, Any], list[dict], tuple[str, ...], float]:
    exp = ridge_files.read_ridge(text, source)
    run = ridge_files.replay(exp)
    return ({"config": {name: getattr(exp, name) for name in ridge_files.FIELDS}, "summary": run.summary()},
            run.run.history, ("relative_distance", "last_relative_distance"), run.run.train_seconds)


# The files of the parts whose run is not an Experiment: format → (file text, its name) → (what it trained, its
# history, the history's columns to print, seconds).
PART_FILES = {regression_files.FORMAT: _regression_part, ridge_files.FORMAT: _ridge_part}


def _train_part(args: argparse.Namespace, text: str, part: Callable) -> None:
    """Replay a part's file (the 1-D regression, dropout as L2): its history, and its last row."""
    if args.run is not None:
        fail("--run picks a network of an experiment file; this file has one")
    try:
        info, history, columns, seconds = part(text, args.config)
    except ValueError as err:
        fail(f"--config: {' '.join(str(err).split())}")
    if args.json:
        json.dump(finite({**info, "history": history, "seconds": seconds}), sys.stdout, allow_nan=False)
        print()
        return
    last, every = history[-1], max(1, len(history) // 10)
    print("  ".join(f"{c:>{max(10, len(c))}}" for c in ("epoch", *columns)))
    for row in history:
        if row["epoch"] % every == 0 or row is last:
            print(f"{row['epoch']:>10}  " + "  ".join(f"{row[c]:>{max(10, len(c))}.4f}" for c in columns))
    print("final: " + ", ".join(f"{c} {last[c]:.4f}" for c in columns) + f" in {seconds:.1f} s")


def _warn_loaded(loaded: list[Any]) -> None:
    """A file's weights loaded on the page: the replay cannot follow them, and says where it parts."""
    for entry in loaded:
        entry = entry if isinstance(entry, dict) else {}
        print(f"explorer: warning: the page loaded weights from {entry.get('file', 'a file')} at step "
              f"{entry.get('step', '?')}; the replay keeps the seed's weights and differs from there", file=sys.stderr)


def _replayed(args: argparse.Namespace, text: str) -> tuple[Experiment, Trainer]:
    """The experiment and trainer of ``--config`` (``--run``)."""
    try:
        config = read_config(text, args.config)
        trainer = replay(config, args.run or next(iter(config.runs)))
    except ValueError as err:  # ConfigError, and data that cannot be had
        fail(f"--config: {' '.join(str(err).split())}")
    record = config.runs[args.run or next(iter(config.runs))]
    _warn_loaded(record.loaded_weights)
    return replace(record.start, epochs=trainer.cfg.epochs), trainer


def cmd_variants(args: argparse.Namespace) -> None:
    from explorer.core.catalogue import catalogue

    entries = catalogue()
    if args.json:
        json.dump(entries, sys.stdout, allow_nan=False)
        print()
        return
    for e in entries:
        flags = ", ".join(f"{p['flag']} ({p['default']})" for p in e["params"])
        print(f"{e['key']:<15} {e['select']:<37} {e['name']}" + (f"; {flags}" if flags else ""))


def _numbers(option: str, text: str, parse: Callable[[str], Any]) -> tuple:
    try:
        values = tuple(parse(t) for t in text.replace(" ", "").split(",") if t)
    except ValueError as err:
        fail(f"{option}: {err}")
    if not values:
        fail(f"{option}: expected comma-separated values")
    return values


def _sweep_spec(args: argparse.Namespace) -> tuple[SweepSpec, Points | None]:
    """The sweep of the flags, or of ``--config`` (its points too), whose other flags are refused."""
    if args.config is not None:
        given = _experiment_flags_given(args)
        given += [f"--{name}" for name in ("rates", "sizes") if getattr(args, name) is not None]
        given += [f"--{name}" for name, default in (("over", "rate"), ("mode", "fixed-width"), ("seeds", "3"),
                                                    ("variants", "standard")) if getattr(args, name) != default]
        text = _config_file(args, given, "sweep")
        try:
            return read_sweep(text, args.config)
        except ValueError as err:
            fail(f"--config: {' '.join(str(err).split())}")
    dataset = "mnist" if args.dataset is None else _parse("dataset", args.dataset)
    sizes = _numbers("--sizes", args.sizes, PARSERS["train_size"]) if args.sizes else default_sizes(dataset)
    implied = {"train_size": max(sizes)} if args.over == "size" and args.train_size is None else {}
    base = experiment_from_args(args, sweep_defaults, "mnist", **implied)
    rates = _numbers("--rates", args.rates, PARSERS["p"]) if args.rates else SweepSpec.rates
    spec = SweepSpec(over=args.over, mode=args.mode, rates=rates, sizes=sizes,
                     seeds=_numbers("--seeds", args.seeds, PARSERS["seed"])[0], base=base,
                     variants=_numbers("--variants", args.variants, choice(SWEEP_VARIANTS)))
    problems = spec.problems()
    if problems:
        fail(problems[0])
    return spec, None


def cmd_sweep(args: argparse.Namespace) -> None:
    spec, points = _sweep_spec(args)
    settings.configure_torch(shared=False)
    try:
        sweep = Sweep(spec, data_of(spec.base, points), evaluations=1,  # only the last epoch is printed
                      keep_weights=args.save_weights is not None)
    except ValueError as err:
        fail(" ".join(str(err).split()))
    out = Path(args.save_weights) if args.save_weights else None
    if out is not None and not out.parent.is_dir():  # found out now, not after the sweep's minutes
        fail(f"--save-weights: no folder {out.parent} to write {out.name} in")
    bar = sys.stderr if sys.stderr.isatty() and not args.json else None
    while not sweep.advance(max_seconds=1.0):
        if bar is not None:
            print(f"\r{sweep.progress:6.1%} of {spec.models()} models' steps", end="", file=bar, flush=True)
    if bar is not None:
        print("\r" + " " * 40 + "\r", end="", file=bar)
    result = sweep.results()
    if out is not None:
        try:
            out.write_bytes(sweep.weights())
        except OSError as err:
            fail(f"--save-weights: cannot write {out}: {err.strerror}")
    if args.json:
        json.dump(finite(result), sys.stdout, allow_nan=False)
        print()
        return
    x_name = "drop rate" if spec.over == "rate" else "train size"
    print(f"{x_name:>10}  {'variant':>14}  {'hidden':>10}  {'train error':>15}  {'val error':>15}")
    for p in result["points"]:
        print(f"{p['x']:>10g}  {'no dropout' if p['variant'] == 'none' else p['variant']:>14}  {','.join(map(str, p['hidden'])):>10}  "
              f"{p['train_error_mean']:>8.2%} ± {p['train_error_std']:<5.2%}  {p['val_error_mean']:>8.2%} ± {p['val_error_std']:<5.2%}")
    print(f"{spec.models()} models ({spec.seeds} seeds per point) in {result['seconds']:.1f} s")


def cmd_analyze(args: argparse.Namespace) -> None:
    module = load_analysis(args.what)
    given = args.dataset is not None

    def defaults(dataset: str) -> Experiment:
        try:
            return module.analysis_defaults(dataset if given else None)
        except ValueError as err:  # a dataset the analysis does not take
            fail(str(err))

    exp = experiment_from_args(args, defaults)
    problems = module.analysis_problems(exp)
    if problems:
        fail(problems[0])
    settings.configure_torch(shared=False)
    try:
        result = module.analyze(exp)
    except ValueError as err:  # mnist.DataError too
        fail(" ".join(str(err).split()))
    result = finite({"what": args.what, "config": exp.to_dict(), **result})
    if args.json:
        json.dump(result, sys.stdout, allow_nan=False)
        print()
        return
    for line in numbers_lines(result):
        print(line)


def numbers_lines(value: Any, prefix: str = "") -> list[str]:
    """A nested result as ``name: value`` lines, lists of rows as small tables (the config left out)."""
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if key != "config":
                lines += numbers_lines(item, f"{prefix}{key}" if not prefix else f"{prefix}.{key}")
        return lines
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        rows = [_flat(row) for row in value]
        columns = list(rows[0])
        width = max(12, *(len(c) for c in columns))
        table = [f"{prefix}:", "  " + "  ".join(f"{c:>{width}}" for c in columns)]
        return table + ["  " + "  ".join(f"{_shown_number(row.get(c)):>{width}}" for c in columns) for row in rows]
    if isinstance(value, list):
        return [f"{prefix}: " + ", ".join(_shown_number(v) for v in value)]
    return [f"{prefix}: {_shown_number(value)}"]


def _flat(row: dict, prefix: str = "") -> dict[str, Any]:
    """A table row with nested groups as dotted columns: {"dropout": {"decov": 1}} → {"dropout.decov": 1}."""
    flat: dict[str, Any] = {}
    for key, item in row.items():
        name = f"{prefix}{key}"
        flat |= _flat(item, name + ".") if isinstance(item, dict) else {name: item}
    return flat


def _shown_number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "n/a" if value is None else str(value)


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["loadtest"]:
        from explorer.tools.loadtest import main as loadtest
        return loadtest(argv[1:])
    args = make_parser().parse_args(argv)
    if args.command == "train":
        cmd_train(args)
    elif args.command == "variants":
        cmd_variants(args)
    elif args.command == "sweep":
        cmd_sweep(args)
    elif args.command == "analyze":
        cmd_analyze(args)
    elif args.command == "lessons":
        lessons_cli.cmd_lessons(args, fail)
    else:
        from explorer.tools.bench import run_bench

        if args.repeats < 1:
            fail("--repeats: must be at least 1")
        run_bench(repeats=args.repeats, as_json=args.json, app=args.app)
