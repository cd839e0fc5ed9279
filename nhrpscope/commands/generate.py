"""`nhrpscope generate`: teaching captures from nhrpscope's own DMVPN routers."""

from __future__ import annotations

import click

from nhrpscope.commands._edge import edges
from nhrpscope.errors import UserError
from nhrpscope.output import check
from nhrpscope.sim import MAX_DURATION


@click.command(short_help="Simulate a DMVPN scenario and write its capture.")
@click.argument("scenario", required=False, metavar="SCENARIO|FILE.toml")
@click.option("-o", "--output", "out", metavar="OUT",
              help="Output name without extension: writes OUT.pcap (or .pcapng), OUT.truth.json, "
                   "and for IPsec OUT.esp_sa, OUT.secrets, OUT.xfrm.")
@click.option("--list", "list_", is_flag=True, help="List the built-in scenarios and what each teaches.")
@click.option("--ipsec/--no-ipsec", default=None, help="Run the scenario under IPsec (ESP) or in clear "
              "[default: as the scenario says].")
@click.option("--seed", type=int, default=None, metavar="N", help="Seed for SPIs, keys, IP ids, jitter "
              "[default: the scenario's]. Same seed, same bytes.")
@click.option("--duration", type=click.FloatRange(min=0.001, max=MAX_DURATION), default=None,
              metavar="SECONDS", help="Simulated time to run, at most 7 days [default: the "
              "scenario's].")
@click.option("--spokes", type=click.IntRange(min=1), default=None, metavar="N",
              help="Number of spokes (scale scenario).")
@click.option("--packets", type=click.IntRange(min=1), default=None, metavar="N",
              help="Number of packets to write (scale scenario).")
@click.option("--format", "fmt", type=click.Choice(["pcap", "pcapng"]), default="pcap", show_default=True,
              help="pcapng adds a comment to every packet (what it is and why it was sent) and embeds "
                   "the ESP SAs in a Decryption Secrets Block (nhrpscope decode/analyze use it with no "
                   "-k; Wireshark 4.0 still needs the .esp_sa file).")
@click.option("--tap", metavar="ROUTER", default=None,
              help="Record what a capture on ROUTER's NBMA interface would hold instead of the provider "
                   "core (which sees every packet once, on the public side of NAT).")
@click.option("--explain", is_flag=True, help="Also write OUT.explain.md, a step-by-step narrative.")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
def generate(scenario: str | None, out: str | None, list_: bool, ipsec: bool | None, seed: int | None,
             duration: float | None, spokes: int | None, packets: int | None, fmt: str, tap: str | None,
             explain: bool, force: bool) -> None:
    """Simulate SCENARIO (a built-in name or a TOML file) and write its capture.

    \b
    nhrpscope generate --list
    nhrpscope generate seed-lab -o lab            # then: nhrpscope analyze lab.pcap
    nhrpscope generate seed-lab-ipsec -o lab --format pcapng --explain
    """
    from nhrpscope.sim.scenario import builtin_names, lesson_of, load_scenario

    with edges():
        if list_:
            names = builtin_names()
            width = max(map(len, names))
            for name in names:
                click.echo(f"{name:<{width}}  {lesson_of(name)}")
            return
        if not scenario:
            raise UserError("generate: give a SCENARIO (see --list) or a FILE.toml")
        if not out:
            raise UserError("generate: -o OUT is required (the output name, without extension)")
        from nhrpscope.sim.run import Options, output_paths, simulate, write_outputs

        sc = load_scenario(scenario)
        if (spokes is not None or packets is not None) and sc.scale is None:
            raise UserError(f"generate: --spokes and --packets apply to scenarios with a [scale] table "
                            f"(such as 'scale'), not to {sc.name}")
        on = sc.ipsec.enabled if ipsec is None else ipsec
        inputs = [scenario]  # a scenario file is never overwritten
        for p in output_paths(out, fmt, ipsec=on, explain=explain):
            check(str(p), force=force, inputs=inputs)  # refused before the simulation runs
        opts = Options(seed=seed, duration=duration, ipsec=ipsec, tap=tap, spokes=spokes, packets=packets)
        result = simulate(sc, opts)
        paths = write_outputs(result, out, fmt, explain=explain, force=force, inputs=inputs)
        t = result.truth
        findings = sorted({f["code"] for f in t.get("findings", [])})
        click.echo(f"{paths[0]}: {t['capture']['frames']} frames, {result.duration:g} s of scenario "
                   f"{sc.name} (seed {result.seed}, tap {tap or 'core'}"
                   f"{', IPsec' if result.ipsec else ''})")
        for p in paths[1:]:
            click.echo(f"{p}")
        if findings:
            click.echo(f"findings: {', '.join(findings)}")
