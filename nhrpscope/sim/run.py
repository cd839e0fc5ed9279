"""Run a scenario and write what it produced.

``simulate(scenario, ...)`` builds the routers and the network, plays the
timed events, and returns a ``Result`` (the tap's frames, the ledger, the
SAs). ``write_outputs(result, out, ...)`` writes the capture, the key files,
the truth and the narrative. Nothing here reads the wall clock or an
unseeded random source: the same scenario and seed give the same bytes.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

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


def write_outputs(result: Result, out: str, fmt: str = "pcap", *, explain: bool = False) -> list[Path]:
    from nhrpscope.capture import LINKTYPE_ETHERNET, PcapngWriter, PcapWriter

    paths = output_paths(out, fmt, ipsec=result.ipsec, explain=explain)
    cap_path = paths[0]
    with open(cap_path, "wb") as fh:
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
    paths[1].write_text(json.dumps(result.truth, indent=2) + "\n", encoding="utf-8")
    if result.ipsec:
        from nhrpscope.keys import format_esp_sa, format_tcpdump_secrets, format_xfrm

        paths[2].write_text(format_esp_sa(result.sas), encoding="utf-8")
        paths[3].write_text(format_tcpdump_secrets(result.sas, lossy=True), encoding="utf-8")
        paths[4].write_text(format_xfrm(result.sas), encoding="utf-8")
    if explain:
        paths[-1].write_text(narrative(result, cap_path.name), encoding="utf-8")
    return paths


__all__ = ["EPOCH", "Options", "Result", "Simulation", "simulate", "write_outputs", "output_paths",
           "mac_for", "ethernet"]
