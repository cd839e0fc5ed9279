"""Run a scenario and write what it produced.

``simulate(scenario, ...)`` builds the routers and the network, plays the
timed events, and returns a ``Result`` (the tap's frames, the ledger, the
SAs). ``write_outputs(result, out, ...)`` writes the capture, the key files,
the truth and the narrative. Nothing here reads the wall clock or an
unseeded random source: the same scenario and seed give the same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from nhrpscope.output import OutputError, OutputSet
from nhrpscope.sim.explain import narrative
from nhrpscope.sim.net import mac_for
from nhrpscope.sim.result import EPOCH, EPOCH_INT, EPOCH_US, Options, Result, ethernet
from nhrpscope.sim.scale import simulate_scale
from nhrpscope.sim.scenario import Scenario
from nhrpscope.sim.simulation import Simulation

_MILLION = Decimal(1_000_000)


def simulate(scenario: Scenario, opts: Options | None = None) -> Result:
    opts = opts or Options()
    if scenario.scale is not None:
        return simulate_scale(scenario, opts)
    return Simulation(scenario, opts).run()


# --------------------------------------------------------------------------- outputs


def output_paths(out: str, fmt: str, *, ipsec: bool, explain: bool) -> list[Path]:
    base = Path(out)
    if out in ("", "-") or out.endswith(os.sep) or base.name in ("", ".", ".."):
        raise OutputError(f"{out or repr(out)}: give the outputs' name (without extension), "
                          "not a folder or standard output")
    paths = [base.with_name(base.name + "." + fmt), base.with_name(base.name + ".truth.json")]
    if ipsec:
        paths += [base.with_name(base.name + s) for s in (".esp_sa", ".secrets", ".xfrm")]
    if explain:
        paths.append(base.with_name(base.name + ".explain.md"))
    return paths


def stamp(t: float) -> Decimal:
    """An exact capture time (whole microseconds) for the writers: a Decimal
    keeps pcapng's nanosecond field at ...000 where a float would not."""
    return (EPOCH_US + round(t * 1_000_000)) / _MILLION


def write_outputs(result: Result, out: str, fmt: str = "pcap", *, explain: bool = False,
                  force: bool = True, inputs: Iterable[str] = ()) -> list[Path]:
    """Write the capture, the truth, the key files and the narrative: all
    of them or, on a failure (a full disk, say), none (``OutputSet``).
    ``force`` False refuses any that exists; ``inputs`` (the scenario
    file) are never overwritten."""
    from nhrpscope.capture import LINKTYPE_ETHERNET, PcapngWriter, PcapWriter

    paths = output_paths(out, fmt, ipsec=result.ipsec, explain=explain)
    cap_path = paths[0]
    texts: list[str] = []
    with OutputSet([str(p) for p in paths], force=force, inputs=inputs) as outs:
        fh = outs.open(0)
        if fmt == "pcapng":
            w = PcapngWriter(fh)
            if result.sas:
                from nhrpscope.keys import DSB_ESP_SA, format_esp_sa

                w.secrets(DSB_ESP_SA, format_esp_sa(result.sas).encode())
            for t, frame, comment in result.iter_frames():
                w.write(stamp(t), frame, LINKTYPE_ETHERNET, comment=comment)  # type: ignore[arg-type]
        else:
            pw = PcapWriter(fh, LINKTYPE_ETHERNET)
            for t, frame, _ in result.iter_frames():
                pw.write((EPOCH_INT * 1_000_000 + round(t * 1_000_000)) / 1_000_000, frame)
        result.truth["capture"]["file"] = cap_path.name
        texts.append(json.dumps(result.truth, indent=2) + "\n")
        if result.ipsec:
            from nhrpscope.keys import format_esp_sa, format_tcpdump_secrets, format_xfrm

            texts += [format_esp_sa(result.sas), format_tcpdump_secrets(result.sas, lossy=True),
                      format_xfrm(result.sas)]
        if explain:
            texts.append(narrative(result, cap_path.name))
        for i, text in enumerate(texts, start=1):
            outs.open(i).write(text.encode("utf-8"))
    return paths


__all__ = ["EPOCH", "Options", "Result", "Simulation", "simulate", "write_outputs", "output_paths",
           "mac_for", "ethernet"]
