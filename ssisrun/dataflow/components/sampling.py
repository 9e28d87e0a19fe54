"""Percentage Sampling, and the DataReader Destination.

**Percentage Sampling** (``Microsoft.PctSampling``) sends each row to its "Sampling Selected
Output" with probability ``SamplingValue`` percent and otherwise to its "Sampling Unselected
Output" (the outputs are told apart by their ``Selected`` property, as the designer writes
them). ``SamplingSeed`` 0 seeds the generator from the operating system, so each run draws a
new sample, as in SSIS; any other seed makes the sample repeatable from run to run. The
generator is Python's (Mersenne Twister), not SSIS's: a seeded sample is stable under
ssisrun, but not the same rows SSIS would pick with that seed. A ``SamplingValue`` outside
0-100 fails the component before any row moves.

**DataReader Destination** (``Microsoft.DataReaderDestination``) hands rows to an ADO.NET
``IDataReader`` that another program (Reporting Services, typically) attaches to the running
package. No such reader can attach under ssisrun, and real packages use the component as a
place to send rows nobody needs (an error output no one inspects). Its rows are therefore
counted and discarded: with ``FailOnTimeout`` False (the designer's default) a warning says how
many; with ``FailOnTimeout`` True the first row fails the component, as the time-out that
would follow in SSIS (after ``ReadTimeout`` ms of nobody reading) fails it — ssisrun does not
wait the time-out out, since nothing can ever read.
"""

from __future__ import annotations

import random

from ssisrun.dataflow.buffer import Batch
from ssisrun.dataflow.engine import Component, ComponentError, Emissions
from ssisrun.dataflow.model import Input, Output


def _flag(text: str) -> bool:
    return text.strip().lower() in ("true", "1", "-1")


class PercentageSampling(Component):
    def pre_execute(self) -> None:
        text = self.ctx.property("SamplingValue", "10").strip() or "10"
        try:
            self.percent = int(text)
        except ValueError:
            raise ComponentError(f"{self.meta.name}: SamplingValue '{text}' is not a whole "
                                 "number of percent") from None
        if not 0 <= self.percent <= 100:
            raise ComponentError(f"{self.meta.name}: SamplingValue {self.percent} is not a "
                                 "percentage between 0 and 100")
        seed_text = self.ctx.property("SamplingSeed", "0").strip() or "0"
        try:
            seed = int(seed_text)
        except ValueError:
            raise ComponentError(f"{self.meta.name}: SamplingSeed '{seed_text}' is not a "
                                 "whole number") from None
        self.random = random.Random(seed) if seed else random.SystemRandom()
        self.selected: Output | None = None
        self.unselected: Output | None = None
        outputs = self.meta.normal_outputs
        for output in outputs:
            chosen = output.properties.get("Selected")
            if chosen is None:
                chosen = "false" if "unselected" in output.name.lower() else "true"
            if _flag(chosen):
                self.selected = self.selected or output
            else:
                self.unselected = self.unselected or output

    def process(self, inp: Input, batch: Batch) -> Emissions:
        draw = self.random.random
        share = self.percent / 100.0
        mask = [draw() < share for _ in range(batch.length)]
        emissions: Emissions = []
        if self.selected is not None:
            emissions.append((self.selected, batch.select(mask)))
        if self.unselected is not None:
            emissions.append((self.unselected, batch.select([not m for m in mask])))
        return emissions


class DataReaderDestination(Component):
    def pre_execute(self) -> None:
        self.fail_on_timeout = _flag(self.ctx.property("FailOnTimeout", "false"))
        self.discarded = 0

    def process(self, inp: Input, batch: Batch) -> Emissions:
        if batch.length and self.fail_on_timeout:
            timeout = self.ctx.property("ReadTimeout", "30000") or "30000"
            raise ComponentError(
                f"{self.meta.name}: no ADO.NET reader can attach to a DataReader Destination "
                f"under ssisrun, and FailOnTimeout is True (ReadTimeout {timeout} ms): set "
                "FailOnTimeout to False to discard its rows, or send them to a real "
                "destination")
        self.discarded += batch.length
        return []

    def post_execute(self) -> None:
        if self.discarded:
            self.ctx.warning(f"{self.meta.name}: no ADO.NET reader can attach under ssisrun; "
                             f"{self.discarded} rows were discarded")
