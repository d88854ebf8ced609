"""Round bookkeeping: where a project stands, and releasing images that never came back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alseg.errors import ConfigError
from alseg.project.images import list_images
from alseg.project.state import Project


def _stems(names: Sequence[str]) -> list[str]:
    return [Path(name).stem for name in names]


def status(directory: Path | str) -> dict[str, Any]:
    """Rounds (images sent out, returned, pending, released; model and quality), labeled
    count, the last quality estimate, leftovers of an interrupted command and what to do next."""
    project = Project.load(directory)
    labeled = project.labeled
    pool = len(list_images(project.images_dir))
    rounds = []
    for record in project.rounds:
        sent = _stems(record["images"])
        released = set(record.get("released", []))
        returned = [s for s in sent if s in labeled]
        pending = [s for s in sent if s not in labeled and s not in released]
        quality = record.get("quality")
        rounds.append(
            {
                "round": record["round"],
                "created": record["created"],
                "strategy": record["strategy"],
                "sent": len(sent),
                "returned": len(returned),
                "pending": len(pending),
                "released": len(released),
                "trained_on": record.get("trained_on", 0),
                "miou": quality.get("miou") if quality else None,
                "folder": record["folder"],
            }
        )
    last = next((r["quality"] for r in reversed(project.rounds) if r.get("quality")), None)
    last_round = next((r["round"] for r in reversed(project.rounds) if r.get("quality")), None)
    pending_total = sum(r["pending"] for r in rounds)
    return {
        "project": str(project.directory),
        "images": pool,
        "labeled": len(labeled),
        "pending": pending_total,
        "rounds": rounds,
        "last_quality": None if last is None else {"round": last_round, **last},
        "leftovers": [p.relative_to(project.directory).as_posix() for p in project.leftovers()],
        "next": _next_step(project.directory, rounds, len(labeled), pool),
    }


def _next_step(directory: Path, rounds: list[dict[str, Any]], labeled: int, pool: int) -> str:
    open_rounds = [r for r in rounds if r["pending"]]
    if open_rounds:
        latest = open_rounds[-1]
        return (
            f"annotate the {latest['pending']} images of round {latest['round']} still out "
            f"({latest['folder']}: cvat/, label_studio/), then `alseg import {directory} "
            f"--masks EXPORT`; or `alseg release {directory} --round {latest['round']}` to "
            "make them pickable again"
        )
    if labeled >= pool:
        return f"every image is labeled; `alseg predict {directory} --images NEW_IMAGES`"
    return f"`alseg select {directory} --budget N` picks the next images"


def release(
    directory: Path | str, round_number: int, images: Sequence[str] | None = None
) -> list[str]:
    """Release the images of round ``round_number`` sent out and never returned (or only
    ``images`` of them, by file name or stem) so that a later select can pick them again;
    returns the stems released (none when every image came back)."""
    with Project.updating(directory) as project:
        record = next((r for r in project.rounds if r["round"] == round_number), None)
        if record is None:
            known = ", ".join(str(r["round"]) for r in project.rounds) or "none yet"
            raise ConfigError(f"no round {round_number} in {directory} (rounds: {known})")
        released = set(record.get("released", []))
        pending = [
            s for s in _stems(record["images"]) if s not in project.labeled and s not in released
        ]
        chosen = pending
        if images is not None:
            wanted = _stems(images)
            stray = next((s for s in wanted if s not in pending), None)
            if stray is not None:
                raise ConfigError(
                    f"image {stray!r} is not out for annotation in round {round_number} "
                    f"(pending there: {', '.join(pending) or 'none'})"
                )
            chosen = [s for s in pending if s in set(wanted)]
        if chosen:
            record["released"] = sorted(released | set(chosen))
            project.save()
    return chosen
