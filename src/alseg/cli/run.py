"""``alseg run``: options -> ExperimentConfig -> loop -> results.json, curve.png and a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from alseg.config import BudgetConfig, ExperimentConfig, build, load_experiment, parse_image_size
from alseg.errors import ConfigError
from alseg.io import writable_folder


def experiment_from_options(
    options: dict[str, Any], explicit: set[str], config: Path | None
) -> ExperimentConfig:
    """Defaults, then the YAML file, then the options given on the command line."""
    base = load_experiment(config) if config else ExperimentConfig()
    chosen = explicit if config else set(options)
    values = base.model_dump()

    def given(name: str) -> bool:
        return name in chosen and options[name] is not None

    if given("dataset"):
        values["data"]["name"] = options["dataset"]
    if given("data_root"):
        values["data"]["root"] = str(options["data_root"])
    if given("image_size"):
        if values["data"]["name"] != "synthdrive":
            raise ConfigError(
                f"--image-size applies to synthdrive only, not {values['data']['name']!r}; "
                "set train.crop in a --config file to train on crops of real images"
            )
        values["data"]["image_size"] = parse_image_size(options["image_size"])
    if given("pool"):
        values["pool"]["kind"] = options["pool"]
    if given("pool_size"):
        values["pool"]["size"] = options["pool_size"]
    elif given("pool") and (options["pool"] == "all" or options["pool"].startswith("list:")):
        values["pool"]["size"] = None  # the whole dataset or list
    elif given("dataset") and options["dataset"] != "synthdrive" and not config:
        values["pool"]["size"] = None  # real data: the whole training split unless asked
        values["pool"]["kind"] = options["pool"] if "pool" in explicit else "all"
        values["train"]["workers"] = 2  # decoding files: load in DataLoader workers
    if given("budget"):
        until = options["until"] if given("until") else None
        values["budget"] = BudgetConfig.parse(options["budget"], until).model_dump()
    elif given("until"):  # a new B for the budget of the config file (or the default)
        budget = BudgetConfig(**values["budget"])
        if budget.absolute is not None:
            raise ConfigError(f"--until applies to I-S budgets, not {budget.label()}")
        values["budget"] = build(BudgetConfig, **{**values["budget"], "until": options["until"]})
        values["budget"] = values["budget"].model_dump()
    if given("model_weights"):
        values["model"]["weights_path"] = str(options["model_weights"])
    if given("head_dropout"):
        values["model"]["head_dropout"] = options["head_dropout"]
    if given("epochs"):
        values["train"]["epochs"] = options["epochs"]
    if given("min_iterations"):
        values["train"]["min_iterations"] = options["min_iterations"]
    for name in ("strategy", "seed"):
        if given(name):
            values[name] = options[name]
    if given("ssl"):
        values["ssl"]["method"] = options["ssl"]
    return build(ExperimentConfig, **values)


def default_out_dir(config: ExperimentConfig) -> Path:
    """``runs/<dataset>-<pool><size>-<strategy>[-<ssl>]-<budget>-s<seed>-<key>``: readable, and
    unique per resolved config (the key is the start of the config's hash)."""
    ssl = "" if config.ssl.method == "none" else f"-{config.ssl.method}"
    pool, strategy = (
        text.replace(":", "_").replace("/", "_") for text in (config.pool.kind, config.strategy)
    )
    size = "" if config.pool.size is None else str(config.pool.size)
    name = f"{config.data.name}-{pool}{size}-{strategy}{ssl}-{config.budget.label()}"
    return Path("runs") / f"{name}-s{config.seed}-{config.key()[:6]}"


def check_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse a folder holding an earlier run's results (unless ``overwrite``), and make sure
    the folder can be written before the run trains anything."""
    if (out_dir / "results.json").exists() and not overwrite:
        raise ConfigError(
            f"{out_dir} holds the results of an earlier run; give another --out or --overwrite"
        )
    writable_folder(out_dir)


def run_command(
    *,
    console: Console,
    explicit: set[str],
    config: Path | None,
    device: str,
    out: Path | None,
    overwrite: bool = False,
    miou_at: float | None = None,
    **options: Any,
) -> None:
    from alseg.acquisition.registry import check_strategy
    from alseg.cli.progress import RichReporter, class_table, cycles_table
    from alseg.devices import resolve_device
    from alseg.io import atomic_write_bytes
    from alseg.labels import method_label
    from alseg.loop import make_setup, run_loop, summarize
    from alseg.metrics import step_index
    from alseg.results import save_curve, save_results

    experiment = experiment_from_options(options, explicit, config)
    check_strategy(experiment.strategy, experiment.strategy_options)
    if miou_at is not None:
        step_index(experiment.budget, miou_at)  # a bad M fails now, not after training
    torch_device = resolve_device(device)
    setup = make_setup(experiment, torch_device)
    out_dir = out or default_out_dir(experiment)
    check_out_dir(out_dir, overwrite)
    setup.pool_results_dir = out_dir / "pool_results"  # used when pool_results is on disk
    console.print(
        f"[bold]alseg run[/]: {method_label(experiment)} on {experiment.data.name} "
        f"(pool {experiment.pool.kind}, {len(setup.pool)} images; val {len(setup.val)}), "
        f"budget {experiment.budget.label()}, seed {experiment.seed}, device {torch_device}"
    )
    with RichReporter(console) as reporter:
        cycles = list(run_loop(setup, reporter=reporter))
    result = summarize(setup, cycles, miou_at)
    atomic_write_bytes(out_dir / "config.yaml", experiment.to_yaml().encode())
    results_path = save_results(result, out_dir)
    curve_path = save_curve([result], out_dir / "curve.png", title=f"{experiment.data.name}")
    console.print(cycles_table(result))
    console.print(class_table(result.cycles[-1]))
    for split, notes in result.data_notes.items():
        if notes.get("unknown_label_pixels"):
            colors = ", ".join(f"{c}: {n}" for c, n in notes["unknown_label_colors"].items())
            console.print(
                f"[yellow]note[/]: {split}: {notes['unknown_label_pixels']} label pixels of "
                f"unknown colours were ignored ({colors})"
            )
    console.print(f"wrote {results_path} and {curve_path}")
