"""Comparing pointing-game runs stored on the same collection, side by side.

Example::

    from fiftyone_videogem.evaluation import compare_pointing_games

    comparison = compare_pointing_games(dataset, ["pg", "pg_norm"])
    comparison.print_report()
    session.view = comparison.disagreements_view()
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Optional, Sequence

from fiftyone import ViewField as F

from ..fields import root_dataset
from .pointing import GroupAccuracy
from .pointing_game import PointingGameResults, format_table, load_pointing_game_results, outcome_field


@dataclasses.dataclass
class ComparisonResults:
    """Side-by-side numbers of several pointing-game runs on the same collection.

    Args:
        eval_keys: the compared evaluation keys, in order
        accuracy: eval key -> overall accuracy
        num_evaluated: eval key -> number of evaluated frames
        per_class: class -> eval key -> :class:`GroupAccuracy` (None where the run did not
            evaluate that class)
        per_component: component -> eval key -> accuracy (None where absent)
        num_common: frames evaluated by every run
        num_disagreements: common frames on which the runs do not all agree
        exclusive_hits: eval key -> common frames that this run hit and another run missed
        samples: the collection the comparison was made on
    """

    eval_keys: list[str]
    accuracy: dict[str, float]
    num_evaluated: dict[str, int]
    per_class: dict[str, dict[str, Optional[GroupAccuracy]]]
    per_component: dict[str, dict[str, Optional[float]]]
    num_common: int
    num_disagreements: int
    exclusive_hits: dict[str, int]
    samples: Any = dataclasses.field(repr=False, default=None)

    def report_str(self, digits: int = 3) -> str:
        """Returns the side-by-side table (overall, per class, per component) as text."""

        def fmt(group: Optional[GroupAccuracy]):
            return "-" if group is None else "%.*f (%d)" % (digits, group.accuracy, group.count)

        header = ["class"] + list(self.eval_keys)
        rows = [
            [c] + [fmt(by_key.get(k)) for k in self.eval_keys]
            for c, by_key in self.per_class.items()
        ]
        rows.append(
            ["overall"]
            + [
                "%.*f (%d)" % (digits, self.accuracy[k], self.num_evaluated[k])
                for k in self.eval_keys
            ]
        )
        lines = format_table(header, rows, digits)
        if self.per_component:
            lines.append("")
            comp_rows = [
                [c] + [by_key.get(k) for k in self.eval_keys]
                for c, by_key in self.per_component.items()
            ]
            lines += format_table(["component"] + list(self.eval_keys), comp_rows, digits)
        lines.append("")
        lines.append(
            "%d frame(s) evaluated by every run, %d with disagreeing outcomes"
            % (self.num_common, self.num_disagreements)
        )
        for k in self.eval_keys:
            lines.append("  hit only by '%s' (missed by another run): %d" % (k, self.exclusive_hits[k]))
        return "\n".join(lines)

    def print_report(self, digits: int = 3) -> None:
        """Prints :meth:`report_str`."""
        print(self.report_str(digits=digits))

    def disagreements_view(self, samples=None):
        """Returns the frames evaluated by every run on which the runs disagree (videos keep
        only those frames)."""
        samples = self.samples if samples is None else samples
        names = []
        is_frames = None
        for key in self.eval_keys:
            name, frames = outcome_field(samples, key)
            if is_frames is not None and frames != is_frames:
                raise ValueError(
                    "The runs %s store their fields at different levels (frame vs sample); "
                    "compare runs made on the same kind of collection" % self.eval_keys
                )
            names.append(name)
            is_frames = frames
        evaluated = functools.reduce(lambda a, b: a & b, [F(n) != None for n in names])
        differ = functools.reduce(
            lambda a, b: a | b, [F(names[0]) != F(n) for n in names[1:]]
        )
        expr = evaluated & differ
        return samples.match_frames(expr) if is_frames else samples.match(expr)


def compare_pointing_games(samples, eval_keys: Sequence[str]) -> ComparisonResults:
    """Compares pointing-game runs stored on the same collection.

    Args:
        samples: the collection holding the runs (a dataset or a view of it)
        eval_keys: two or more evaluation keys

    Returns:
        a :class:`ComparisonResults`
    """
    eval_keys = list(eval_keys)
    if len(eval_keys) < 2:
        raise ValueError("compare_pointing_games() needs at least two eval keys, got %s" % eval_keys)
    if len(set(eval_keys)) != len(eval_keys):
        raise ValueError("compare_pointing_games() got duplicate eval keys: %s" % eval_keys)

    dataset = root_dataset(samples)
    results: dict[str, PointingGameResults] = {k: load_pointing_game_results(dataset, k) for k in eval_keys}

    classes = sorted({c for res in results.values() for c in res.per_class})
    per_class = {c: {k: results[k].per_class.get(c) for k in eval_keys} for c in classes}
    components = sorted({c for res in results.values() for c in res.component_hits})
    per_component = {
        c: {k: results[k].per_component.get(c) for k in eval_keys} for c in components
    }

    outcomes = [dict(zip(results[k].frame_ids, results[k].hits)) for k in eval_keys]
    common = set(outcomes[0])
    for o in outcomes[1:]:
        common &= set(o)
    num_disagreements = 0
    exclusive_hits = {k: 0 for k in eval_keys}
    for frame_id in common:
        row = [o[frame_id] for o in outcomes]
        if any(row) and not all(row):
            num_disagreements += 1
            for k, hit in zip(eval_keys, row):
                exclusive_hits[k] += int(hit)

    return ComparisonResults(
        eval_keys=eval_keys,
        accuracy={k: results[k].accuracy for k in eval_keys},
        num_evaluated={k: results[k].num_evaluated for k in eval_keys},
        per_class=per_class,
        per_component=per_component,
        num_common=len(common),
        num_disagreements=num_disagreements,
        exclusive_hits=exclusive_hits,
        samples=samples,
    )
